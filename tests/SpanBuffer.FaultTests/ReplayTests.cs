using SpanBuffer.FaultTests.Infrastructure;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.FaultTests;

/// <summary>
/// A consumer that restarts before committing replays batches it already ingested. Replays are idempotent at the
/// payload level (same salts), so the output must be the same as without the replay: every span once, no loss.
/// </summary>
public abstract class ReplayTests(RedisFixture fixture) : FaultTestBase(fixture)
{
    [Fact]
    public async Task ReplayedBatch_EverySpanDeliveredOnce_AndNoDroppedLossReported()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(prefix);
        var ledger = new SpanLedger();
        var batch = Workload.Load();

        await Buffers.IngestAsync(buffer, ledger, [batch, batch], Workload.Now);
        await Buffers.DrainAsync(buffer, ledger, Workload.AfterTimeout);

        ledger.AssertBalanced(maxDuplicates: 0);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task ReplayedBatchesInSmallBatches_EverySpanDeliveredOnce_AndNoDroppedLossReported()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(prefix);
        var ledger = new SpanLedger();
        var batches = Workload.Batches(Workload.Load(), 50);

        // Batches 0..2 are acknowledged, the consumer restarts and replays from batch 1.
        await Buffers.IngestAsync(buffer, ledger, batches.Take(3), Workload.Now);
        await Buffers.IngestAsync(buffer, ledger, batches.Skip(1), Workload.Now);
        await Buffers.DrainAsync(buffer, ledger, Workload.AfterTimeout);

        ledger.AssertBalanced(maxDuplicates: 0);
        await AssertNoKeysLeftAsync(prefix);
    }
}

public sealed class ReplayTestsOnStandalone(StandaloneRedisFixture fixture) : ReplayTests(fixture);

public sealed class ReplayTestsOnCluster(ClusterRedisFixture fixture) : ReplayTests(fixture);
