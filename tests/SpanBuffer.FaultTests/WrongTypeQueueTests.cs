using SpanBuffer.FaultTests.Infrastructure;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.FaultTests;

/// <summary>
/// One shard's queue key holds a value of the wrong type (a foreign writer, a manual edit). That shard cannot be
/// flushed, but the other shards must be: one bad key must not stop the whole flusher.
/// </summary>
public abstract class WrongTypeQueueTests(RedisFixture fixture) : FaultTestBase(fixture)
{
    [Fact]
    public async Task QueueKeyOfShard1IsAHash_ShardsZeroTwoAndThreeStillFlush()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(prefix);
        var ledger = new SpanLedger();
        var spans = Workload.Load().Where(s => s.Partition != 1).ToArray();
        Assert.Equal([0, 2, 3], spans.Select(s => s.Partition).Distinct().Order());
        await Db.HashSetAsync(prefix + ":q:1", "field", "value");

        await Buffers.IngestAsync(buffer, ledger, [spans], Workload.Now);
        await Buffers.DrainAsync(buffer, ledger, Workload.AfterTimeout);

        ledger.AssertBalanced();
        Assert.Equal(StackExchange.Redis.RedisType.Hash, await Db.KeyTypeAsync(prefix + ":q:1"));
        await Db.KeyDeleteAsync(prefix + ":q:1");
        await AssertNoKeysLeftAsync(prefix);
    }
}

public sealed class WrongTypeQueueTestsOnStandalone(StandaloneRedisFixture fixture) : WrongTypeQueueTests(fixture);

public sealed class WrongTypeQueueTestsOnCluster(ClusterRedisFixture fixture) : WrongTypeQueueTests(fixture);
