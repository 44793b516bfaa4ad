using SpanBuffer.FaultTests.Infrastructure;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.FaultTests;

/// <summary>
/// Several flushers own the same shards (a rebalance in flight, a misconfigured deployment). Whatever they do
/// concurrently, a span that was delivered must never be reported as lost, nothing may vanish silently, and with
/// flush locks nothing is delivered twice. Duplicates without locks are measured (reported in the test output).
/// </summary>
public abstract class OverlappingFlusherTests(RedisFixture fixture) : FaultTestBase(fixture)
{
    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 0)]
    [InlineData(3, 0)]
    [InlineData(2, 30)]
    [InlineData(3, 30)]
    public async Task ConcurrentFlushersOnTheSameShards_NoDroppedForDeliveredSpans(int flushers, int flushLockTtlSeconds)
    {
        var prefix = NewKeyPrefix();
        var lockTtl = TimeSpan.FromSeconds(flushLockTtlSeconds);
        var buffers = Enumerable.Range(0, flushers).Select(_ => CreateBuffer(prefix, lockTtl)).ToArray();
        try
        {
            var ledger = new SpanLedger();
            var batches = Enumerable.Range(0, 3).SelectMany(_ => Workload.Batches(Workload.Load(), 20)).ToArray();
            var now = Workload.Now;

            // Each round ingests a batch, then every flusher flushes and cleans up at the same time.
            foreach (var batch in batches)
            {
                await Buffers.IngestAsync(buffers[0], ledger, [batch], now);
                now += 20;
                var at = now;
                await Task.WhenAll(buffers.Select(b => Task.Run(() => Buffers.FlushAndDoneAsync(b, ledger, at), Buffers.Token)));
            }

            await Task.WhenAll(buffers.Select(b => Task.Run(() => Buffers.FlushAndDoneAsync(b, ledger, now + 61), Buffers.Token)));
            await Buffers.DrainAsync(buffers[0], ledger, now + 61);

            // Without locks every flusher may deliver a segment once; with locks only one may.
            ledger.AssertBalanced(maxDuplicates: flushLockTtlSeconds > 0 ? 0 : (flushers - 1) * (long)ledger.Ingested);
            await AssertNoKeysLeftAsync(prefix);
        }
        finally
        {
            foreach (var buffer in buffers)
            {
                buffer.Dispose();
            }
        }
    }
}

public sealed class OverlappingFlusherTestsOnStandalone(StandaloneRedisFixture fixture) : OverlappingFlusherTests(fixture);

public sealed class OverlappingFlusherTestsOnCluster(ClusterRedisFixture fixture) : OverlappingFlusherTests(fixture);
