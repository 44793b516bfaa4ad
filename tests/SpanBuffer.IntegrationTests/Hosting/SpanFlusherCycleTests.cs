using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;

namespace SpanBuffer.IntegrationTests.Hosting;

/// <summary>One flusher cycle (<see cref="SpanFlusher.FlushOnceAsync"/>): produce, wait for every acknowledgement, then clean up.</summary>
public abstract class SpanFlusherCycleTests(RedisFixture fixture) : HostingTestBase(fixture)
{
    private const long IngestTime = 1_700_000_000;
    private const long FlushTime = IngestTime + 60;

    [Fact]
    public async Task FlushOnce_DueSegment_SinkSeesMessagesWhileKeysStillExistAndNothingRemainsAfterwards()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix });
        var segment = TestSegment.Create(spanCount: 3);
        await buffer.ProcessSpansAsync(segment.Spans, IngestTime, Ct);
        var keysBeforeFlush = await KeysAsync(prefix);
        var segmentKey = segment.SegmentKey(prefix);

        IReadOnlyList<string>? keysDuringProduce = null;
        double? queueScoreDuringProduce = null;
        var sink = new RecordingSink
        {
            OnProduce = async (_, _) =>
            {
                queueScoreDuringProduce = await Db.SortedSetScoreAsync(QueueKey(prefix), segmentKey);
                keysDuringProduce = await KeysAsync(prefix);
            },
        };
        using var flusher = new SpanFlusher(buffer, sink);

        var result = await flusher.FlushOnceAsync(FlushTime, Ct);

        Assert.Single(result.Segments);
        Assert.NotNull(queueScoreDuringProduce);
        Assert.Equal(keysBeforeFlush, keysDuringProduce);
        Assert.Contains($"{prefix}:mk:{{{segment.ProjectId}:{segment.TraceId}}}:{segment.RootId}", keysDuringProduce!);
        var message = Assert.Single(sink.Delivered);
        Assert.Equal(segment.ProjectId, message.ProjectId);
        Assert.Equal(segment.SpanIds.Order(), message.Spans.Select(span => span.SpanId).Order());
        Assert.Empty(await KeysAsync(prefix));
        Assert.Equal(new SpanFlusherStatistics(Cycles: 1, FailedCycles: 0, SegmentsProduced: 1, SpansProduced: 3, MessagesProduced: 1, LostSpans: 0), flusher.Statistics);
    }

    [Fact]
    public async Task FlushOnce_PayloadSetGone_ReportsTheLostSpansToTheSinkAndCountsThem()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix });
        var segment = TestSegment.Create(spanCount: 3);
        // Two batches: the root alone, then its two children, so the segment has two payload sets.
        await buffer.ProcessSpansAsync(segment.Spans.Where(s => s.IsSegmentSpan).ToList(), IngestTime, Ct);
        await buffer.ProcessSpansAsync(segment.Spans.Where(s => !s.IsSegmentSpan).ToList(), IngestTime, Ct);
        var childPayloadKey = (await KeysAsync(prefix)).Single(key =>
            key.StartsWith($"{prefix}:s:{{{segment.ProjectId}:{segment.TraceId}:", StringComparison.Ordinal)
            && !key.EndsWith(SaltOf(segment.Spans.Where(s => s.IsSegmentSpan)), StringComparison.Ordinal));
        await Db.KeyDeleteAsync(childPayloadKey);
        var sink = new RecordingSink();
        using var flusher = new SpanFlusher(buffer, sink);

        await flusher.FlushOnceAsync(FlushTime, Ct);

        Assert.Equal(new SegmentLoss(segment.ProjectId, 2, SegmentLossReason.Dropped), Assert.Single(sink.ReportedLosses));
        Assert.Equal([segment.RootId], sink.DeliveredSpanIds);
        Assert.Equal(2, flusher.Statistics.LostSpans);
    }

    private static string SaltOf(IEnumerable<Span> spans) => SpanBuffer.Ingest.SaltHasher.Compute(spans.ToArray());

    [Fact]
    public async Task FlushOnce_SegmentWhoseDataExpired_IsCleanedButNeverProduced()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix });
        var live = TestSegment.Create(spanCount: 2);
        await buffer.ProcessSpansAsync(live.Spans, IngestTime, Ct);

        // A queue entry whose segment data is gone (expired or flushed elsewhere): it flushes as an empty segment.
        var expired = TestSegment.Create(spanCount: 1);
        await Db.SortedSetAddAsync(QueueKey(prefix), expired.SegmentKey(prefix), IngestTime + 10);
        var sink = new RecordingSink();
        using var flusher = new SpanFlusher(buffer, sink);

        var result = await flusher.FlushOnceAsync(FlushTime, Ct);

        Assert.Equal(2, result.Segments.Count);
        var empty = Assert.Single(result.Segments, segment => segment.Spans.Count == 0);
        Assert.Equal(expired.SegmentKey(prefix), empty.SegmentKey);
        var message = Assert.Single(sink.Delivered);
        Assert.Equal(live.SpanIds.Order(), message.Spans.Select(span => span.SpanId).Order());
        Assert.Equal(1, sink.Attempts);
        Assert.Empty(await KeysAsync(prefix));
        Assert.Equal(1, flusher.Statistics.SegmentsProduced);
        Assert.Equal(1, flusher.Statistics.MessagesProduced);
    }

    [Fact]
    public async Task FlushOnce_OnlyEmptySegments_CleansThemWithoutCallingTheSink()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix });
        var expired = TestSegment.Create(spanCount: 1);
        await Db.SortedSetAddAsync(QueueKey(prefix), expired.SegmentKey(prefix), IngestTime);
        var sink = new RecordingSink();
        using var flusher = new SpanFlusher(buffer, sink);

        var result = await flusher.FlushOnceAsync(FlushTime, Ct);

        Assert.Empty(Assert.Single(result.Segments).Spans);
        Assert.Equal(0, sink.Attempts);
        Assert.Empty(await KeysAsync(prefix));
        Assert.Equal(new SpanFlusherStatistics(Cycles: 1, FailedCycles: 0, SegmentsProduced: 0, SpansProduced: 0, MessagesProduced: 0, LostSpans: 0), flusher.Statistics);
    }

    [Fact]
    public async Task FlushOnce_SinkFailsOneSegment_OnlyThatSegmentStaysAndTheNextCycleDeliversIt()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix });
        var delivered = TestSegment.Create(spanCount: 2, projectId: 1);
        var failing = TestSegment.Create(spanCount: 3, projectId: 2);
        await buffer.ProcessSpansAsync([.. delivered.Spans, .. failing.Spans], IngestTime, Ct);
        Assert.Equal(2, (await QueueMembersAsync(prefix)).Length);

        // First cycle: project 2's delivery fails, project 1's is acknowledged and cleaned; the failure is rethrown.
        var brokerDown = new IOException("broker unavailable");
        var failFirstCycle = true;
        var sink = new RecordingSink
        {
            OnProduce = (message, _) => failFirstCycle && message.ProjectId == failing.ProjectId ? Task.FromException(brokerDown) : Task.CompletedTask,
        };
        using var flusher = new SpanFlusher(buffer, sink);

        var thrown = await Assert.ThrowsAsync<IOException>(() => flusher.FlushOnceAsync(FlushTime, Ct));

        Assert.Same(brokerDown, thrown);
        Assert.Equal([failing.SegmentKey(prefix)], await QueueMembersAsync(prefix));
        Assert.DoesNotContain(await KeysAsync(prefix), key => key.Contains(delivered.TraceId, StringComparison.Ordinal));
        Assert.Equal(new SpanFlusherStatistics(Cycles: 1, FailedCycles: 1, SegmentsProduced: 1, SpansProduced: 2, MessagesProduced: 1, LostSpans: 0, FailedDeliveries: 1), flusher.Statistics);
        Assert.Equal(delivered.SpanIds.Order(), sink.DeliveredSpanIds.Order());

        // Second cycle: the sink recovered; only the failed segment is produced again, then cleaned.
        failFirstCycle = false;
        var firstCycleDeliveries = sink.Delivered.Count;

        var result = await flusher.FlushOnceAsync(FlushTime, Ct);

        Assert.Equal(failing.SegmentKey(prefix), Assert.Single(result.Segments).SegmentKey);
        var secondCycleSpanIds = sink.Delivered.Skip(firstCycleDeliveries).SelectMany(message => message.Spans.Select(span => span.SpanId));
        Assert.Equal(failing.SpanIds.Order(), secondCycleSpanIds.Order());
        Assert.Empty(await KeysAsync(prefix));
        Assert.Equal(new SpanFlusherStatistics(Cycles: 2, FailedCycles: 1, SegmentsProduced: 2, SpansProduced: 5, MessagesProduced: 2, LostSpans: 0, FailedDeliveries: 1), flusher.Statistics);
    }

    [Fact]
    public async Task FlushOnce_SinkThrowsSynchronously_FailsTheCycleAndCleansNothing()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix });
        var segment = TestSegment.Create(spanCount: 2);
        await buffer.ProcessSpansAsync(segment.Spans, IngestTime, Ct);
        var keysBeforeFlush = await KeysAsync(prefix);
        using var flusher = new SpanFlusher(buffer, new ThrowingSink());

        await Assert.ThrowsAsync<InvalidOperationException>(() => flusher.FlushOnceAsync(FlushTime, Ct));

        Assert.Equal(keysBeforeFlush, await KeysAsync(prefix));
        Assert.Equal(1, flusher.Statistics.FailedCycles);
        Assert.Equal(1, flusher.Statistics.FailedDeliveries);
    }

    /// <summary>A sink that throws from <see cref="ProduceAsync"/> itself instead of returning a faulted task.</summary>
    private sealed class ThrowingSink : ISegmentSink
    {
        public Task ProduceAsync(SegmentMessage message, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("the producer is closed");
    }
}

public sealed class SpanFlusherCycleTestsOnStandalone(StandaloneRedisFixture fixture) : SpanFlusherCycleTests(fixture);

public sealed class SpanFlusherCycleTestsOnCluster(ClusterRedisFixture fixture) : SpanFlusherCycleTests(fixture);
