using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;

namespace SpanBuffer.IntegrationTests.Hosting;

/// <summary>
/// Per-segment delivery: a failed message keeps only its own segment in Redis; a poison segment is given up on after
/// <see cref="SpanBufferOptions.MaxDeliveryAttempts"/>; losses are reported once; the heartbeat means progress.
/// </summary>
public abstract class SpanFlusherDeliveryFailureTests(RedisFixture fixture) : HostingTestBase(fixture)
{
    private const long IngestTime = 1_700_000_000;
    private const long FlushTime = IngestTime + 60;
    private const long PoisonProject = 99;

    [Fact]
    public async Task FlushOnce_OneMessageOfManyFails_OnlyThatSegmentStaysAndIsDeliveredAgain()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix });
        var good = Enumerable.Range(0, 20).Select(_ => TestSegment.Create(spanCount: 3, projectId: 1)).ToList();
        var failing = TestSegment.Create(spanCount: 4, projectId: 2);
        await buffer.ProcessSpansAsync([.. good.SelectMany(s => s.Spans), .. failing.Spans], IngestTime, Ct);
        var brokerDown = new IOException("broker unavailable");
        var failOnce = true;
        var sink = new RecordingSink
        {
            OnProduce = (message, _) => failOnce && message.ProjectId == failing.ProjectId ? Task.FromException(brokerDown) : Task.CompletedTask,
        };
        using var flusher = new SpanFlusher(buffer, sink);

        var thrown = await Assert.ThrowsAsync<IOException>(() => flusher.FlushOnceAsync(FlushTime, Ct));

        // The delivered segments are gone; only the failed one is left, whole.
        Assert.Same(brokerDown, thrown);
        Assert.Equal([failing.SegmentKey(prefix)], await QueueMembersAsync(prefix));
        Assert.Equal(good.SelectMany(s => s.SpanIds).Order(), sink.DeliveredSpanIds.Order());
        Assert.Equal(
            new SpanFlusherStatistics(Cycles: 1, FailedCycles: 1, SegmentsProduced: 20, SpansProduced: 60, MessagesProduced: 20, LostSpans: 0, FailedDeliveries: 1),
            flusher.Statistics);

        failOnce = false;
        var result = await flusher.FlushOnceAsync(FlushTime, Ct);

        // Only the failed segment was produced again: no span was delivered twice.
        Assert.Equal(failing.SegmentKey(prefix), Assert.Single(result.Segments).SegmentKey);
        Assert.Equal(22, sink.Attempts);
        var delivered = sink.DeliveredSpanIds.ToList();
        Assert.Equal(64, delivered.Count);
        Assert.Equal(0, delivered.Count - delivered.Distinct().Count());
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task FlushOnce_OneChunkOfAMultiMessageSegmentFails_TheWholeSegmentIsDeliveredAgain()
    {
        var prefix = NewKeyPrefix();
        using var ingest = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix });
        var other = TestSegment.Create(spanCount: 2, projectId: 1);
        var chunked = TestSegment.Create(spanCount: 6, projectId: 2);
        await ingest.ProcessSpansAsync([.. other.Spans, .. chunked.Spans], IngestTime, Ct);

        // Flush with a limit that fits about two spans per message, so the 6-span segment becomes several messages.
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, MaxSegmentBytes = 400 });
        var chunkedMessages = 0;
        var sink = new RecordingSink();
        sink.OnProduce = (message, _) =>
            message.ProjectId == chunked.ProjectId && Interlocked.Increment(ref chunkedMessages) == 2
                ? Task.FromException(new IOException("one chunk failed"))
                : Task.CompletedTask;
        using var flusher = new SpanFlusher(buffer, sink);

        await Assert.ThrowsAsync<IOException>(() => flusher.FlushOnceAsync(FlushTime, Ct));

        var firstCycleMessages = Volatile.Read(ref chunkedMessages);
        Assert.True(firstCycleMessages >= 3, $"expected the segment to be split into 3 or more messages, got {firstCycleMessages}");
        Assert.Equal([chunked.SegmentKey(prefix)], await QueueMembersAsync(prefix));
        var acknowledgedChunkSpans = sink.Delivered.Where(m => m.ProjectId == chunked.ProjectId).Sum(m => m.Spans.Count);
        Assert.True(acknowledgedChunkSpans is > 0 and < 6);

        await flusher.FlushOnceAsync(FlushTime, Ct);

        // Retried whole: every span of the segment again, so the acknowledged chunks' spans are the only duplicates.
        var delivered = sink.DeliveredSpanIds.ToList();
        Assert.Equal(other.SpanIds.Concat(chunked.SpanIds).Order(), delivered.Distinct().Order());
        Assert.Equal(acknowledgedChunkSpans, delivered.Count - delivered.Distinct().Count());
        Assert.Equal(2 * firstCycleMessages, Volatile.Read(ref chunkedMessages));
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task FlushOnce_RetriedSegmentWithLosses_ReportsItsLossesOnceAfterItIsCleaned()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix });
        var segment = TestSegment.Create(spanCount: 3);
        await buffer.ProcessSpansAsync(segment.Spans.Where(s => s.IsSegmentSpan).ToList(), IngestTime, Ct);
        await buffer.ProcessSpansAsync(segment.Spans.Where(s => !s.IsSegmentSpan).ToList(), IngestTime, Ct);
        var rootSalt = SpanBuffer.Ingest.SaltHasher.Compute(segment.Spans.Where(s => s.IsSegmentSpan).ToArray());
        var childPayloadKey = (await KeysAsync(prefix)).Single(key =>
            key.StartsWith($"{prefix}:s:{{{segment.ProjectId}:{segment.TraceId}:", StringComparison.Ordinal)
            && !key.EndsWith(rootSalt, StringComparison.Ordinal));
        await Db.KeyDeleteAsync(childPayloadKey);
        var fail = true;
        var sink = new RecordingSink { OnProduce = (_, _) => fail ? Task.FromException(new IOException("down")) : Task.CompletedTask };
        using var flusher = new SpanFlusher(buffer, sink);

        await Assert.ThrowsAsync<IOException>(() => flusher.FlushOnceAsync(FlushTime, Ct));
        await Assert.ThrowsAsync<IOException>(() => flusher.FlushOnceAsync(FlushTime, Ct));
        Assert.Empty(sink.ReportedLosses);
        Assert.Equal(0, flusher.Statistics.LostSpans);

        fail = false;
        await flusher.FlushOnceAsync(FlushTime, Ct);

        Assert.Equal(new SegmentLoss(segment.ProjectId, 2, SegmentLossReason.Dropped), Assert.Single(sink.ReportedLosses));
        Assert.Equal(2, flusher.Statistics.LostSpans);
        Assert.Empty(await QueueMembersAsync(prefix));
        Assert.Equal([segment.RootId], sink.DeliveredSpanIds);
    }

    [Fact]
    public async Task FlushOnce_PoisonSegmentWithDefaultDeadLetter_OthersFlowAndItIsCountedAsDeliveryFailedOnce()
    {
        const int maxAttempts = 3;
        var prefix = NewKeyPrefix();
        var logs = new FakeLogCollector();
        using var loggerFactory = new LoggerFactory([new FakeLoggerProvider(logs)]);
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, MaxDeliveryAttempts = maxAttempts });
        var poison = TestSegment.Create(spanCount: 4, projectId: PoisonProject);
        var ingested = new List<TestSegment> { poison };
        await buffer.ProcessSpansAsync(poison.Spans, IngestTime, Ct);
        var poisonError = new InvalidDataException("message too large for the topic");
        var poisonAttempts = 0;
        var sink = new RecordingSink();
        sink.OnProduce = (message, _) =>
        {
            if (message.ProjectId != PoisonProject)
            {
                return Task.CompletedTask;
            }

            Interlocked.Increment(ref poisonAttempts);
            return Task.FromException(poisonError);
        };

        // RecordingSink does not implement DeadLetterAsync: the interface's default (not taken) applies.
        using var flusher = new SpanFlusher(buffer, sink, loggerFactory);

        for (var cycle = 1; cycle <= maxAttempts + 1; cycle++)
        {
            // New segments keep arriving; each cycle delivers them although the poison segment keeps failing.
            var fresh = Enumerable.Range(0, 5).Select(_ => TestSegment.Create(spanCount: 2, projectId: 1)).ToList();
            ingested.AddRange(fresh);
            await buffer.ProcessSpansAsync([.. fresh.SelectMany(s => s.Spans)], IngestTime + cycle, Ct);
            if (cycle < maxAttempts)
            {
                Assert.Same(poisonError, await Assert.ThrowsAsync<InvalidDataException>(() => flusher.FlushOnceAsync(FlushTime + cycle, Ct)));
                Assert.Equal([poison.SegmentKey(prefix)], await QueueMembersAsync(prefix));
            }
            else
            {
                await flusher.FlushOnceAsync(FlushTime + cycle, Ct);
            }

            Assert.Equal(fresh.SelectMany(s => s.SpanIds).Order(), sink.Delivered.Skip((cycle - 1) * 5).SelectMany(m => m.Spans.Select(s => s.SpanId)).Order());
        }

        Assert.Equal(maxAttempts, poisonAttempts);
        Assert.Empty(await KeysAsync(prefix));
        var loss = Assert.Single(sink.ReportedLosses);
        Assert.Equal(new SegmentLoss(PoisonProject, 4, SegmentLossReason.DeliveryFailed), loss);
        var abandoned = Assert.Single(logs.GetSnapshot(), r => r.Id.Name == "SegmentDeliveryAbandoned");
        Assert.Same(poisonError, abandoned.Exception);
        Assert.Equal(1, flusher.Statistics.AbandonedSegments);
        Assert.Equal(0, flusher.Statistics.DeadLetteredSegments);
        Assert.Equal(maxAttempts, flusher.Statistics.FailedDeliveries);
        Assert.Equal(4, flusher.Statistics.LostSpans);

        // Accounting closes: every ingested span was delivered exactly once or counted as lost.
        var deliveredSpans = sink.DeliveredSpanIds.ToList();
        Assert.Equal(deliveredSpans.Count, deliveredSpans.Distinct().Count());
        var ingestedSpans = ingested.Sum(s => s.Spans.Count);
        Assert.Equal(ingestedSpans, deliveredSpans.Count + sink.ReportedLosses.Sum(l => l.Count));
    }

    [Fact]
    public async Task FlushOnce_PoisonSegmentTakenByDeadLetter_IsHandedOverWithTheLastErrorAndNotCountedAsLost()
    {
        const int maxAttempts = 2;
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, MaxDeliveryAttempts = maxAttempts });
        var poison = TestSegment.Create(spanCount: 3, projectId: PoisonProject);
        var good = TestSegment.Create(spanCount: 2, projectId: 1);
        await buffer.ProcessSpansAsync([.. poison.Spans, .. good.Spans], IngestTime, Ct);
        var errors = new[] { new IOException("attempt 1"), new IOException("attempt 2") };
        var attempt = 0;
        var recording = new RecordingSink();
        recording.OnProduce = (message, _) => message.ProjectId == PoisonProject ? Task.FromException(errors[attempt++]) : Task.CompletedTask;
        var sink = new DeadLetterSink(recording, taken: true);
        using var flusher = new SpanFlusher(buffer, sink);

        await Assert.ThrowsAsync<IOException>(() => flusher.FlushOnceAsync(FlushTime, Ct));
        Assert.Empty(sink.DeadLettered);

        await flusher.FlushOnceAsync(FlushTime, Ct);

        var (segment, lastError) = Assert.Single(sink.DeadLettered);
        Assert.Equal(poison.SegmentKey(prefix), segment.SegmentKey);
        Assert.Equal(poison.SpanIds.Order(), segment.Spans.Select(s => s.SpanId).Order());
        Assert.Same(errors[1], lastError);
        Assert.Empty(recording.ReportedLosses);
        Assert.Equal(good.SpanIds.Order(), recording.DeliveredSpanIds.Order());
        Assert.Equal(1, flusher.Statistics.DeadLetteredSegments);
        Assert.Equal(0, flusher.Statistics.AbandonedSegments);
        Assert.Equal(0, flusher.Statistics.LostSpans);
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task FlushOnce_DeadLetterThrows_TheSegmentIsCleanedAndCountedAsLost()
    {
        var prefix = NewKeyPrefix();
        var logs = new FakeLogCollector();
        using var loggerFactory = new LoggerFactory([new FakeLoggerProvider(logs)]);
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, MaxDeliveryAttempts = 1 });
        var poison = TestSegment.Create(spanCount: 2, projectId: PoisonProject);
        await buffer.ProcessSpansAsync(poison.Spans, IngestTime, Ct);
        var recording = new RecordingSink { OnProduce = (_, _) => Task.FromException(new IOException("down")) };
        var sink = new DeadLetterSink(recording, taken: true) { Failure = new InvalidOperationException("dead-letter topic missing") };
        using var flusher = new SpanFlusher(buffer, sink, loggerFactory);

        await flusher.FlushOnceAsync(FlushTime, Ct);

        Assert.Equal(new SegmentLoss(PoisonProject, 2, SegmentLossReason.DeliveryFailed), Assert.Single(recording.ReportedLosses));
        Assert.Same(sink.Failure, Assert.Single(logs.GetSnapshot(), r => r.Id.Name == "DeadLetterFailed").Exception);
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task FlushOnce_PoisonSegmentGivenUp_PublishesFailedDeliveriesAbandonedSegmentsAndLostSpans()
    {
        var services = new ServiceCollection();
        services.AddMetrics();
        await using var provider = services.BuildServiceProvider();
        var meterFactory = provider.GetRequiredService<IMeterFactory>();
        using var failedDeliveries = new MetricCollector<long>(meterFactory, "SpanBuffer", "spanbuffer.flusher.failed_deliveries");
        using var abandonedSegments = new MetricCollector<long>(meterFactory, "SpanBuffer", "spanbuffer.flusher.abandoned_segments");
        using var lostSpans = new MetricCollector<long>(meterFactory, "SpanBuffer", "spanbuffer.flush.lost_spans");
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, MaxDeliveryAttempts = 2 }, meterFactory: meterFactory);
        await buffer.ProcessSpansAsync(TestSegment.Create(spanCount: 4, projectId: PoisonProject).Spans, IngestTime, Ct);
        var sink = new RecordingSink { OnProduce = (_, _) => Task.FromException(new IOException("poison")) };
        using var flusher = new SpanFlusher(buffer, sink);

        await Assert.ThrowsAsync<IOException>(() => flusher.FlushOnceAsync(FlushTime, Ct));
        Assert.Empty(abandonedSegments.GetMeasurementSnapshot());
        await flusher.FlushOnceAsync(FlushTime, Ct);

        Assert.Equal(2, failedDeliveries.GetMeasurementSnapshot().Sum(m => m.Value));
        var abandoned = Assert.Single(abandonedSegments.GetMeasurementSnapshot());
        Assert.Equal(1, abandoned.Value);
        Assert.Equal("lost", abandoned.Tags["kind"]);
        var lost = Assert.Single(lostSpans.GetMeasurementSnapshot(), m => m.Value > 0);
        Assert.Equal(4, lost.Value);
        Assert.Equal("delivery_failed", lost.Tags["reason"]);
        Assert.Empty(await QueueMembersAsync(prefix));
    }

    [Fact]
    public async Task Health_EveryDeliveryFailing_TurnsUnhealthyAfterMaxUnhealthyTime()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var prefix = NewKeyPrefix();
        var options = new SpanBufferOptions { KeyPrefix = prefix, MaxUnhealthyTime = TimeSpan.FromSeconds(60), MaxDeliveryAttempts = 1000 };
        using var buffer = new SpansBuffer(Redis, options, timeProvider: time);
        var failing = true;
        var sink = new RecordingSink { OnProduce = (_, _) => failing ? Task.FromException(new IOException("broker down")) : Task.CompletedTask };
        using var flusher = new SpanFlusher(buffer, sink, timeProvider: time);
        var check = new SpanFlusherHealthCheck(flusher);
        await buffer.ProcessSpansAsync(TestSegment.Create(spanCount: 2).Spans, IngestTime, Ct);

        // A cycle every 10 s, each failing every delivery: the flusher runs but makes no progress.
        for (var elapsed = 0; elapsed <= 60; elapsed += 10)
        {
            await Assert.ThrowsAsync<IOException>(() => flusher.FlushOnceAsync(FlushTime, Ct));
            Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext(), Ct)).Status);
            time.Advance(TimeSpan.FromSeconds(10));
        }

        await Assert.ThrowsAsync<IOException>(() => flusher.FlushOnceAsync(FlushTime, Ct));
        Assert.Equal(HealthStatus.Unhealthy, (await check.CheckHealthAsync(new HealthCheckContext(), Ct)).Status);
        Assert.False(flusher.IsHealthy);

        // The sink recovers: the next cycle delivers and the flusher is healthy again.
        failing = false;
        await flusher.FlushOnceAsync(FlushTime, Ct);
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext(), Ct)).Status);
        Assert.Single(sink.Delivered);
    }

    [Fact]
    public async Task Health_LoopIdleWithNothingDue_StaysHealthyPastMaxUnhealthyTime()
    {
        var time = new SignallingTimeProvider();
        var interval = TimeSpan.FromSeconds(5);
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = NewKeyPrefix(), FlushInterval = interval, MaxUnhealthyTime = TimeSpan.FromSeconds(60) }, timeProvider: time);
        using var flusher = new SpanFlusher(buffer, new RecordingSink(), timeProvider: time);
        var check = new SpanFlusherHealthCheck(flusher);

        await flusher.StartAsync(Ct);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(interval, await time.NextTimerAsync());
            time.Advance(interval);
        }

        Assert.Equal(interval, await time.NextTimerAsync());
        await flusher.StopAsync(Ct).WaitAsync(WaitTimeout, Ct);
        Assert.Equal(21, flusher.Statistics.Cycles);
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext(), Ct)).Status);
    }

    [Fact]
    public async Task Loop_EveryDeliveryFailing_BacksOffExponentiallyUpToTheCapInsteadOfSpinning()
    {
        var time = new SignallingTimeProvider();
        var interval = TimeSpan.FromSeconds(5);
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, FlushInterval = interval, MaxDeliveryAttempts = 1000 }, timeProvider: time);
        var sink = new RecordingSink { OnProduce = (_, _) => Task.FromException(new IOException("broker down")) };
        using var flusher = new SpanFlusher(buffer, sink, timeProvider: time);
        var segment = TestSegment.Create(spanCount: 2);
        await buffer.ProcessSpansAsync(segment.Spans, flusher.Now - 120, Ct);

        await flusher.StartAsync(Ct);
        var waits = new List<TimeSpan>();
        for (var i = 0; i < 6; i++)
        {
            var wait = await time.NextTimerAsync();
            waits.Add(wait);
            Assert.Equal(i + 1, sink.Attempts);
            time.Advance(wait);
        }

        await time.NextTimerAsync();
        await flusher.StopAsync(Ct).WaitAsync(WaitTimeout, Ct);

        Assert.Equal([5, 10, 20, 30, 30, 30], waits.Select(w => w.TotalSeconds));
        Assert.Equal(7, sink.Attempts);
        Assert.Equal([segment.SegmentKey(prefix)], await QueueMembersAsync(prefix));
    }

    /// <summary>A sink that delegates to a <see cref="RecordingSink"/> and implements <see cref="ISegmentSink.DeadLetterAsync"/>.</summary>
    private sealed class DeadLetterSink(RecordingSink inner, bool taken) : ISegmentSink
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<(FlushedSegment, Exception)> _deadLettered = new();

        public Exception? Failure { get; init; }

        public IReadOnlyList<(FlushedSegment Segment, Exception LastError)> DeadLettered => [.. _deadLettered];

        public Task ProduceAsync(SegmentMessage message, CancellationToken cancellationToken) => inner.ProduceAsync(message, cancellationToken);

        public Task ReportLossesAsync(IReadOnlyList<SegmentLoss> losses, CancellationToken cancellationToken) => inner.ReportLossesAsync(losses, cancellationToken);

        public Task<bool> DeadLetterAsync(FlushedSegment segment, Exception lastError, CancellationToken cancellationToken)
        {
            if (Failure is { } failure)
            {
                return Task.FromException<bool>(failure);
            }

            _deadLettered.Enqueue((segment, lastError));
            return Task.FromResult(taken);
        }
    }
}

public sealed class SpanFlusherDeliveryFailureTestsOnStandalone(StandaloneRedisFixture fixture) : SpanFlusherDeliveryFailureTests(fixture);

public sealed class SpanFlusherDeliveryFailureTestsOnCluster(ClusterRedisFixture fixture) : SpanFlusherDeliveryFailureTests(fixture);
