using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.IntegrationTests.Hosting;

/// <summary>
/// The background loop (<c>StartAsync</c>/<c>StopAsync</c>), driven by a fake clock: the test advances time only
/// once the loop has created its delay timer, and waits on the sink's signals, never on Redis.
/// </summary>
public abstract class SpanFlusherLoopTests(RedisFixture fixture) : HostingTestBase(fixture)
{
    private static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Loop_SinkFailsOnFirstCycle_LogsSegmentDeliveryFailedAndDeliversOnTheNextCycle()
    {
        var prefix = NewKeyPrefix();
        var time = new SignallingTimeProvider();
        var logs = new FakeLogCollector();
        using var loggerFactory = new LoggerFactory([new FakeLoggerProvider(logs)]);
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, FlushInterval = FlushInterval }, loggerFactory, timeProvider: time);
        var brokerDown = new IOException("broker unavailable");
        var sink = new RecordingSink();
        sink.OnProduce = (_, _) => sink.Attempts == 1 ? Task.FromException(brokerDown) : Task.CompletedTask;
        using var flusher = new SpanFlusher(buffer, sink, loggerFactory, time);
        var segment = TestSegment.Create(spanCount: 3);
        await buffer.ProcessSpansAsync(segment.Spans, flusher.Now - 120, Ct);

        await flusher.StartAsync(Ct);

        // The first cycle fails; the loop logs it and waits one interval (a failed cycle flushed nothing).
        Assert.Equal(FlushInterval, await time.NextTimerAsync());
        Assert.Equal(1, sink.Attempts);
        Assert.Empty(sink.Delivered);
        var failure = Assert.Single(logs.GetSnapshot(), record => record.Id.Name == "SegmentDeliveryFailed");
        Assert.Equal(LogLevel.Warning, failure.Level);
        Assert.DoesNotContain(logs.GetSnapshot(), record => record.Id.Name == "FlusherCycleFailed");
        Assert.Same(brokerDown, failure.Exception);
        Assert.Equal(1, flusher.Statistics.FailedCycles);
        Assert.NotEmpty(await KeysAsync(prefix));

        // The next cycle delivers, cleans up, and runs again at once; that one finds nothing and waits.
        time.Advance(FlushInterval);
        var message = await sink.NextDeliveryAsync();
        Assert.Equal(FlushInterval, await time.NextTimerAsync());

        Assert.Equal(segment.SpanIds.Order(), message.Spans.Select(span => span.SpanId).Order());
        Assert.Empty(await KeysAsync(prefix));
        Assert.Equal(new SpanFlusherStatistics(Cycles: 3, FailedCycles: 1, SegmentsProduced: 1, SpansProduced: 3, MessagesProduced: 1, LostSpans: 0, FailedDeliveries: 1), flusher.Statistics);

        await flusher.StopAsync(Ct).WaitAsync(WaitTimeout, Ct);
        Assert.True(flusher.ExecuteTask!.IsCompletedSuccessfully);
        var events = logs.GetSnapshot().Select(record => record.Id.Name).ToList();
        Assert.Contains("FlusherStarted", events);
        Assert.Contains("FlusherStopped", events);
    }

    [Fact]
    public async Task Loop_NothingToFlush_WaitsFlushIntervalOnTheTimeProviderBetweenCycles()
    {
        var prefix = NewKeyPrefix();
        var time = new SignallingTimeProvider();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, FlushInterval = FlushInterval }, timeProvider: time);
        var sink = new RecordingSink();
        using var flusher = new SpanFlusher(buffer, sink, timeProvider: time);

        await flusher.StartAsync(Ct);
        Assert.Equal(FlushInterval, await time.NextTimerAsync());
        Assert.Equal(1, flusher.Statistics.Cycles);

        // A segment that becomes due only after the clock moves is flushed by the cycle after the delay.
        var segment = TestSegment.Create(spanCount: 2);
        await buffer.ProcessSpansAsync(segment.Spans, flusher.Now, Ct);
        time.Advance(FlushInterval);
        Assert.Equal(FlushInterval, await time.NextTimerAsync());
        Assert.Equal(0, sink.Attempts);
        Assert.Equal(2, flusher.Statistics.Cycles);

        time.Advance(TimeSpan.FromSeconds(60));
        var message = await sink.NextDeliveryAsync();

        Assert.Equal(segment.SpanIds.Order(), message.Spans.Select(span => span.SpanId).Order());
        await flusher.StopAsync(Ct).WaitAsync(WaitTimeout, Ct);
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task Stop_DuringACycle_TheCycleFinishesProducesOnceAndCleansUp()
    {
        var prefix = NewKeyPrefix();
        var time = new SignallingTimeProvider();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, FlushInterval = FlushInterval }, timeProvider: time);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sink = new RecordingSink
        {
            OnProduce = async (_, _) =>
            {
                entered.TrySetResult();
                await release.Task;
            },
        };
        using var flusher = new SpanFlusher(buffer, sink, timeProvider: time);
        var segment = TestSegment.Create(spanCount: 3);
        await buffer.ProcessSpansAsync(segment.Spans, flusher.Now - 120, Ct);
        var keysBeforeFlush = await KeysAsync(prefix);

        await flusher.StartAsync(Ct);
        await entered.Task.WaitAsync(WaitTimeout, Ct);
        using var notCancelled = new CancellationTokenSource();
        var stopping = flusher.StopAsync(notCancelled.Token);

        Assert.False(stopping.IsCompleted);
        Assert.Equal(keysBeforeFlush, await KeysAsync(prefix));

        release.SetResult();
        await stopping.WaitAsync(WaitTimeout, Ct);

        Assert.True(flusher.ExecuteTask!.IsCompletedSuccessfully);
        var message = Assert.Single(sink.Delivered);
        Assert.Equal(segment.SpanIds.Order(), message.Spans.Select(span => span.SpanId).Order());
        Assert.Empty(await KeysAsync(prefix));
        Assert.Equal(new SpanFlusherStatistics(Cycles: 1, FailedCycles: 0, SegmentsProduced: 1, SpansProduced: 3, MessagesProduced: 1, LostSpans: 0), flusher.Statistics);
    }

    [Fact]
    public async Task Stop_WithCancelledToken_AbortsTheBlockedCycleAndLeavesItsSegmentsForTheNextRun()
    {
        var prefix = NewKeyPrefix();
        var time = new SignallingTimeProvider();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, FlushInterval = FlushInterval }, timeProvider: time);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var neverReleased = new TaskCompletionSource();
        var sink = new RecordingSink
        {
            OnProduce = async (_, cancellationToken) =>
            {
                entered.TrySetResult();
                await neverReleased.Task.WaitAsync(cancellationToken);
            },
        };
        using var flusher = new SpanFlusher(buffer, sink, timeProvider: time);
        var segment = TestSegment.Create(spanCount: 3);
        var now = flusher.Now;
        await buffer.ProcessSpansAsync(segment.Spans, now - 120, Ct);
        var keysBeforeFlush = await KeysAsync(prefix);

        await flusher.StartAsync(Ct);
        await entered.Task.WaitAsync(WaitTimeout, Ct);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await flusher.StopAsync(cancelled.Token).WaitAsync(WaitTimeout, Ct);
        await flusher.ExecuteTask!.WaitAsync(WaitTimeout, Ct);

        Assert.Empty(sink.Delivered);
        Assert.Equal(keysBeforeFlush, await KeysAsync(prefix));
        Assert.Equal([segment.SegmentKey(prefix)], await QueueMembersAsync(prefix));
        Assert.Equal(new SpanFlusherStatistics(Cycles: 1, FailedCycles: 0, SegmentsProduced: 0, SpansProduced: 0, MessagesProduced: 0, LostSpans: 0), flusher.Statistics);

        // The next run (a new flusher, e.g. after a restart) produces the same spans and cleans up.
        var nextSink = new RecordingSink();
        using var next = new SpanFlusher(buffer, nextSink, timeProvider: time);
        await next.FlushOnceAsync(now, Ct);

        Assert.Equal(segment.SpanIds.Order(), nextSink.DeliveredSpanIds.Order());
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task Stop_WithCancelledToken_SinkIgnoringTheToken_LoopStopsAndNothingIsCleaned()
    {
        var prefix = NewKeyPrefix();
        var time = new SignallingTimeProvider();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, FlushInterval = FlushInterval }, timeProvider: time);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sink = new RecordingSink
        {
            OnProduce = async (_, _) =>
            {
                entered.TrySetResult();
                await release.Task;
            },
        };
        using var flusher = new SpanFlusher(buffer, sink, timeProvider: time);
        var segment = TestSegment.Create(spanCount: 2);
        await buffer.ProcessSpansAsync(segment.Spans, flusher.Now - 120, Ct);
        var keysBeforeFlush = await KeysAsync(prefix);

        await flusher.StartAsync(Ct);
        await entered.Task.WaitAsync(WaitTimeout, Ct);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        // The host stopped waiting: the loop gives up on the blocked delivery at once and cleans nothing,
        // so the segment is produced again later (at-least-once).
        await flusher.StopAsync(cancelled.Token).WaitAsync(WaitTimeout, Ct);
        await flusher.ExecuteTask!.WaitAsync(WaitTimeout, Ct);
        release.SetResult();

        Assert.Equal(0, flusher.Statistics.FailedCycles);
    }
}

public sealed class SpanFlusherLoopTestsOnStandalone(StandaloneRedisFixture fixture) : SpanFlusherLoopTests(fixture);

public sealed class SpanFlusherLoopTestsOnCluster(ClusterRedisFixture fixture) : SpanFlusherLoopTests(fixture);
