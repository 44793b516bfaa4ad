using SpanBuffer.FaultTests.Infrastructure;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.FaultTests;

/// <summary>
/// Regression: a 3-primary, 3-replica cluster loses a primary. Before the fault the test waits until each replica has
/// everything its primary acknowledged (by polling the replica's <c>slave_repl_offset</c> up to the primary's
/// <c>master_repl_offset</c>: Redis replication is asynchronous, so a primary killed before that may take acknowledged
/// writes with it, which no client library can prevent; a host that needs this guarantee uses WAIT). Then nothing
/// acknowledged is lost, and ingest and flush go on against the promoted replica (whose script cache starts empty).
/// </summary>
public sealed class ClusterFailoverTests : PrivateRedisTestBase
{
    private protected override RedisTopology Topology => RedisTopology.Cluster;

    private protected override Task<PrivateRedis> StartRedisAsync() =>
        PrivateRedis.StartClusterAsync(masters: 3, replicasPerMaster: 1, ["--cluster-node-timeout", "2000"], Buffers.Token);

    [Fact]
    public async Task ManualFailoverOnAReplica_LosesNothingAcknowledged()
    {
        await RunAsync(async (master, replica) =>
        {
            Assert.Equal("OK", await replica.SendAsync(Buffers.Token, "CLUSTER", "FAILOVER"));
        });
    }

    [Fact]
    public async Task Kill9OfAPrimaryThenReplicaPromotion_LosesNothingAcknowledged()
    {
        await RunAsync(async (master, replica) =>
        {
            await master.KillAsync();

            // TAKEOVER promotes without waiting for the failure detection (node timeout) and the election.
            Assert.Equal("OK", await replica.SendAsync(Buffers.Token, "CLUSTER", "FAILOVER", "TAKEOVER"));
        });
    }

    private async Task RunAsync(Func<RedisNode, RedisNode, Task> fault)
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(Buffers.Options(prefix));
        var ledger = new SpanLedger();
        var before = Workload.Batches(Workload.Load(), 40);
        await Buffers.IngestAsync(buffer, ledger, before, Workload.Now);

        // Segments with a root are due at Now + 10: flush and clean up those before the fault.
        await Buffers.FlushAndDoneAsync(buffer, ledger, Workload.Now + 10);

        var pairs = await Redis.MasterReplicaPairsAsync(Buffers.Token);
        Assert.Equal(3, pairs.Count);
        foreach (var (m, r) in pairs)
        {
            await PrivateRedis.WaitForReplicationAsync(m, r, Buffers.Token);
        }

        var (master, replica) = pairs[0];
        await fault(master, replica);
        await Redis.WaitForPromotionAsync(replica, Buffers.Token);
        await Redis.WaitUntilConnectionSeesPrimariesAsync(3, Buffers.Token);

        await Buffers.IngestAsync(buffer, ledger, Workload.Batches(Workload.Load(), 40), Workload.Now + 20);
        await Buffers.DrainAsync(buffer, ledger, Workload.AfterTimeout + 20);

        ledger.AssertBalanced();
        await AssertNoKeysLeftAsync(prefix);
    }
}
