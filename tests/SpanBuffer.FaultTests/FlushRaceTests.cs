using SpanBuffer.FaultTests.Infrastructure;
using SpanBuffer.IntegrationTests.Ingest;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.FaultTests;

/// <summary>
/// Reference §8.1: a span that joins a segment after the flush read it but before its cleanup. Cleanup must not take
/// the late span with it: a later flush delivers it (with or without flush locks).
/// </summary>
public abstract class FlushRaceTests(RedisFixture fixture) : FaultTestBase(fixture)
{
    [Theory]
    [InlineData(0)]
    [InlineData(30)]
    public async Task ChildArrivingBetweenFlushReadAndCleanup_IsDeliveredByALaterFlush(int flushLockTtlSeconds)
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(prefix, TimeSpan.FromSeconds(flushLockTtlSeconds));
        var ledger = new SpanLedger();
        var trace = Guid.NewGuid().ToString("N");
        var root = SpanFactory.Id('a');
        var now = Workload.Now;
        await Buffers.IngestAsync(buffer, ledger, [[SpanFactory.Root(root, traceId: trace), SpanFactory.Child(SpanFactory.Id('b'), root, traceId: trace)]], now);

        var read = await buffer.FlushSegmentsAsync(now + 10, Buffers.Token);
        ledger.Deliver(read);
        Assert.Equal(2, read.Segments.Sum(s => s.Spans.Count));

        // The late child: a direct child of the segment's root, so it merges into (or, locked, detaches from) it.
        await Buffers.IngestAsync(buffer, ledger, [[SpanFactory.Child(SpanFactory.Id('c'), root, traceId: trace)]], now + 10);
        await buffer.DoneFlushSegmentsAsync(read.Segments, Buffers.Token);

        await Buffers.DrainAsync(buffer, ledger, now + 10 + 61);

        ledger.AssertBalanced(maxDuplicates: 0);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task ChildArrivingAfterTheFlushLockExpired_BeforeCleanup_IsDeliveredByALaterFlush()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(prefix, TimeSpan.FromSeconds(30));
        var ledger = new SpanLedger();
        var trace = Guid.NewGuid().ToString("N");
        var root = SpanFactory.Id('a');
        var now = Workload.Now;
        await Buffers.IngestAsync(buffer, ledger, [[SpanFactory.Root(root, traceId: trace), SpanFactory.Child(SpanFactory.Id('b'), root, traceId: trace)]], now);

        var read = await buffer.FlushSegmentsAsync(now + 10, Buffers.Token);
        ledger.Deliver(read);

        // A slow hand-off: the lock's TTL (real time in Redis) ran out before cleanup. Deleting it is the same state.
        foreach (var lockKey in await KeysAsync(prefix + ":fl:*"))
        {
            Assert.True(await Db.KeyDeleteAsync(lockKey));
        }

        await Buffers.IngestAsync(buffer, ledger, [[SpanFactory.Child(SpanFactory.Id('c'), root, traceId: trace)]], now + 10);
        await buffer.DoneFlushSegmentsAsync(read.Segments, Buffers.Token);
        await Buffers.DrainAsync(buffer, ledger, now + 10 + 61);

        ledger.AssertBalanced(maxDuplicates: 0);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(30)]
    public async Task WorkloadTailArrivingBetweenFlushReadAndCleanup_IsDeliveredByALaterFlush(int flushLockTtlSeconds)
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(prefix, TimeSpan.FromSeconds(flushLockTtlSeconds));
        var ledger = new SpanLedger();
        var spans = Workload.Load();
        var head = spans.Take(spans.Count / 2).ToArray();
        var tail = spans.Skip(spans.Count / 2).ToArray();
        await Buffers.IngestAsync(buffer, ledger, [head], Workload.Now);

        var read = await buffer.FlushSegmentsAsync(Workload.AfterTimeout, Buffers.Token);
        ledger.Deliver(read);
        await Buffers.IngestAsync(buffer, ledger, [tail], Workload.AfterTimeout);
        await buffer.DoneFlushSegmentsAsync(read.Segments, Buffers.Token);

        await Buffers.DrainAsync(buffer, ledger, Workload.AfterTimeout + 61);

        ledger.AssertBalanced(maxDuplicates: 0);
        await AssertNoKeysLeftAsync(prefix);
    }
}

public sealed class FlushRaceTestsOnStandalone(StandaloneRedisFixture fixture) : FlushRaceTests(fixture);

public sealed class FlushRaceTestsOnCluster(ClusterRedisFixture fixture) : FlushRaceTests(fixture);
