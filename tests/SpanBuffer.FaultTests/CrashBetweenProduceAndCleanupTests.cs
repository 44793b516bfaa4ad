using SpanBuffer.FaultTests.Infrastructure;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.FaultTests;

/// <summary>
/// Regression: a flusher that produced segments and died before cleaning up. Delivery is at-least-once: a new buffer
/// instance flushes the same segments again, completely, and then cleans them up.
/// </summary>
public abstract class CrashBetweenProduceAndCleanupTests(RedisFixture fixture) : FaultTestBase(fixture)
{
    [Fact]
    public async Task FlushWithoutCleanup_ThenANewInstanceFlushes_ReDeliversEverything()
    {
        var prefix = NewKeyPrefix();
        var ledger = new SpanLedger();
        using (var crashed = CreateBuffer(prefix))
        {
            await Buffers.IngestAsync(crashed, ledger, Workload.Batches(Workload.Load(), 60), Workload.Now);
            ledger.Deliver(await crashed.FlushSegmentsAsync(Workload.AfterTimeout, Buffers.Token));
            Assert.Equal(ledger.Ingested, ledger.DeliveredUnique);
        }

        using var restarted = CreateBuffer(prefix);
        await Buffers.DrainAsync(restarted, ledger, Workload.AfterTimeout + 1);

        // Every span exactly twice: once before the crash, once after.
        ledger.AssertBalanced(maxDuplicates: ledger.Ingested);
        Assert.Equal(ledger.Ingested, ledger.Duplicates);
        await AssertNoKeysLeftAsync(prefix);
    }
}

public sealed class CrashBetweenProduceAndCleanupTestsOnStandalone(StandaloneRedisFixture fixture) : CrashBetweenProduceAndCleanupTests(fixture);

public sealed class CrashBetweenProduceAndCleanupTestsOnCluster(ClusterRedisFixture fixture) : CrashBetweenProduceAndCleanupTests(fixture);
