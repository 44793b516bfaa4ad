using SpanBuffer.FaultTests.Infrastructure;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.FaultTests;

/// <summary>
/// Regression: redis-server killed with SIGKILL. With <c>appendonly yes, appendfsync always</c> every acknowledged
/// write survives: nothing acknowledged is lost. Without persistence everything is lost, silently for the buffer; the
/// host must detect the restart itself (<see cref="RedisRestartDetector"/>).
/// </summary>
public sealed class AofCrashTestsOnStandalone : PrivateRedisTestBase
{
    private protected override RedisTopology Topology => RedisTopology.Standalone;

    private protected override string[] ServerArguments => ["--appendonly", "yes", "--appendfsync", "always"];

    [Fact]
    public async Task Kill9WithAofAlways_ThenRestartFromTheSameDirectory_LosesNothingAcknowledged()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(Buffers.Options(prefix));
        var ledger = new SpanLedger();
        await Buffers.IngestAsync(buffer, ledger, Workload.Batches(Workload.Load(), 30), Workload.Now);

        // Segments with a root are due first: flush and clean those up before the crash; the rest after it.
        await Buffers.FlushAndDoneAsync(buffer, ledger, Workload.Now + 10);
        var node = Redis.Nodes[0];
        await node.KillAsync();
        await node.RestartAsync(Buffers.Token);
        await Redis.WaitUntilReconnectedAsync(Buffers.Token);

        await Buffers.DrainAsync(buffer, ledger, Workload.AfterTimeout);
        ledger.AssertBalanced();
        await AssertNoKeysLeftAsync(prefix);
    }

}

/// <summary>The servers of the shared fixtures run like this: <c>--save '' --appendonly no</c>.</summary>
public sealed class NoPersistenceRestartTestsOnStandalone : PrivateRedisTestBase
{
    private protected override RedisTopology Topology => RedisTopology.Standalone;

    [Fact]
    public async Task Kill9WithoutPersistence_LosesEverythingSilently_AndTheHostDetectsTheRestart()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(Buffers.Options(prefix));
        var ledger = new SpanLedger();
        var detector = new RedisRestartDetector(prefix + ":host-sentinel");
        await detector.ArmAsync(Redis.Connection, Redis.Primaries);
        await Buffers.IngestAsync(buffer, ledger, [Workload.Load()], Workload.Now);
        Assert.Empty((await detector.CheckAsync(Redis.Connection, Redis.Primaries)).Restarted);

        var node = Redis.Nodes[0];
        await node.KillAsync();
        await node.RestartAsync(Buffers.Token);
        await Redis.WaitUntilReconnectedAsync(Buffers.Token);
        await Buffers.DrainAsync(buffer, ledger, Workload.AfterTimeout);

        // The buffer cannot know: nothing is delivered and nothing is counted.
        Assert.Equal(0, ledger.DeliveredUnique);
        Assert.Equal(0, ledger.CountedSpanLosses);
        Assert.Equal(ledger.Ingested, ledger.SilentLosses);

        // The host can.
        var (restarted, sentinelLost) = await detector.CheckAsync(Redis.Connection, Redis.Primaries);
        Assert.Equal([node.EndPoint], restarted);
        Assert.True(sentinelLost);
    }
}
