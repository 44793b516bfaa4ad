using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;

namespace SpanBuffer.IntegrationTests.Hosting;

/// <summary>Shared pieces of the host-integration tests: a base class with the waits, spans, sinks and clocks.</summary>
public abstract class HostingTestBase(RedisFixture fixture) : RedisTestBase(fixture)
{
    /// <summary>How long a test waits for the background loop before it fails (generous: CI machines are slow).</summary>
    public static readonly TimeSpan WaitTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The shard every test span lands in (partition 0) and every test buffer flushes.</summary>
    protected const int Shard = 0;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected static string QueueKey(string prefix, int shard = Shard) => $"{prefix}:q:{shard}";

    protected Task<IReadOnlyList<string>> KeysAsync(string prefix) => Fixture.GetKeysAsync($"{prefix}:*");

    /// <summary>Deletes every key under <paramref name="prefix"/>, one command per key (they live in different slots).</summary>
    protected async Task DeleteKeysAsync(string prefix) =>
        await Task.WhenAll((await KeysAsync(prefix)).Select(key => Db.KeyDeleteAsync(key)));

    protected async Task<string[]> QueueMembersAsync(string prefix, int shard = Shard) =>
        [.. (await Db.SortedSetRangeByRankAsync(QueueKey(prefix, shard))).Select(member => member.ToString()).Order(StringComparer.Ordinal)];
}

/// <summary>One segment's worth of spans: a root span and its children, in a fresh trace.</summary>
public sealed record TestSegment(long ProjectId, string TraceId, string RootId, IReadOnlyList<Span> Spans)
{
    public IEnumerable<string> SpanIds => Spans.Select(span => span.SpanId);

    /// <summary>
    /// A root span plus <paramref name="spanCount"/> - 1 children, each payload a small JSON object carrying its ids;
    /// they come from input <paramref name="partition"/>, so they queue in that shard.
    /// </summary>
    public static TestSegment Create(int spanCount = 3, long projectId = 1, int partition = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(spanCount, 1);
        var traceId = Guid.NewGuid().ToString("N");
        var rootId = NewSpanId();
        var spans = new List<Span> { NewSpan(traceId, rootId, parentId: null, projectId, partition) };
        for (var i = 1; i < spanCount; i++)
        {
            spans.Add(NewSpan(traceId, NewSpanId(), rootId, projectId, partition));
        }

        return new TestSegment(projectId, traceId, rootId, spans);
    }

    /// <summary>The segment key the buffer files this segment under.</summary>
    public string SegmentKey(string prefix) => new SegmentKey(ProjectId, TraceId, RootId).Format(prefix);

    private static string NewSpanId() => Guid.NewGuid().ToString("N")[..16];

    private static Span NewSpan(string traceId, string spanId, string? parentId, long projectId, int partition)
    {
        var parent = parentId is null ? "null" : $"\"{parentId}\"";
        var payload = Encoding.UTF8.GetBytes(
            $"{{\"project_id\":{projectId},\"trace_id\":\"{traceId}\",\"span_id\":\"{spanId}\",\"parent_span_id\":{parent},\"name\":\"test\"}}");
        return new Span(traceId, spanId, parentId, segmentId: null, projectId, payload, isSegmentSpan: parentId is null, partition);
    }
}

/// <summary>
/// A sink that records every message it acknowledges. <see cref="OnProduce"/> runs first on every call and can
/// inspect Redis, block or throw (a throw fails the delivery). Attempts and deliveries are also published on
/// channels, so a test can wait for the background loop without polling.
/// </summary>
public sealed class RecordingSink : ISegmentSink
{
    private readonly ConcurrentQueue<SegmentMessage> _delivered = new();
    private readonly Channel<SegmentMessage> _attempts = Channel.CreateUnbounded<SegmentMessage>();
    private readonly Channel<SegmentMessage> _deliveries = Channel.CreateUnbounded<SegmentMessage>();
    private int _attemptCount;

    /// <summary>Runs at the start of every delivery, before it is recorded.</summary>
    public Func<SegmentMessage, CancellationToken, Task>? OnProduce { get; set; }

    public int Attempts => Volatile.Read(ref _attemptCount);

    /// <summary>The acknowledged messages, in acknowledgement order.</summary>
    public IReadOnlyList<SegmentMessage> Delivered => [.. _delivered];

    public IEnumerable<string> DeliveredSpanIds => Delivered.SelectMany(message => message.Spans.Select(span => span.SpanId));

    public async Task ProduceAsync(SegmentMessage message, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _attemptCount);
        _attempts.Writer.TryWrite(message);
        if (OnProduce is { } onProduce)
        {
            await onProduce(message, cancellationToken);
        }

        _delivered.Enqueue(message);
        _deliveries.Writer.TryWrite(message);
    }

    /// <summary>The losses reported through <see cref="ReportLossesAsync"/>, in order.</summary>
    public ConcurrentQueue<SegmentLoss> ReportedLosses { get; } = new();

    public Task ReportLossesAsync(IReadOnlyList<SegmentLoss> losses, CancellationToken cancellationToken)
    {
        foreach (var loss in losses)
        {
            ReportedLosses.Enqueue(loss);
        }

        return Task.CompletedTask;
    }

    /// <summary>Waits for the next call to <see cref="ProduceAsync"/> (successful or not).</summary>
    public Task<SegmentMessage> NextAttemptAsync() => _attempts.Reader.ReadAsync().AsTask().WaitAsync(HostingTestBase.WaitTimeout);

    /// <summary>Waits for the next acknowledged message.</summary>
    public Task<SegmentMessage> NextDeliveryAsync() => _deliveries.Reader.ReadAsync().AsTask().WaitAsync(HostingTestBase.WaitTimeout);
}

/// <summary>
/// A <see cref="FakeTimeProvider"/> that reports every timer created on it, so a test knows the flusher loop is
/// waiting (<c>Task.Delay(interval, timeProvider)</c> creates a timer) before it advances the clock.
/// </summary>
public sealed class SignallingTimeProvider : FakeTimeProvider
{
    private readonly Channel<TimeSpan> _timers = Channel.CreateUnbounded<TimeSpan>();

    public SignallingTimeProvider()
        : base(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        _timers.Writer.TryWrite(dueTime);
        return timer;
    }

    /// <summary>Waits until a timer is created and returns its due time.</summary>
    public Task<TimeSpan> NextTimerAsync() => _timers.Reader.ReadAsync().AsTask().WaitAsync(HostingTestBase.WaitTimeout);
}
