using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Redis;
using static SpanBuffer.IntegrationTests.Ingest.SpanFactory;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>
/// The ingest script is called by its SHA1; a node that lost its script cache (restart, failover, SCRIPT FLUSH)
/// answers NOSCRIPT, and the call must then load the script and run, not fail the batch.
/// </summary>
public abstract class IngestScriptCacheTests(RedisFixture fixture) : IngestTestBase(fixture)
{
    [Fact]
    public async Task ProcessSpans_AfterScriptFlushOnEveryNode_ReloadsTheScriptAndMerges()
    {
        using var scope = NewScope();
        var a = Id('a');
        var b = Id('b');
        var c = Id('c');
        await scope.IngestAsync(0, Child(a, b), Child(c, a));

        // Other tests share the server; they recover the same way.
        foreach (var server in Fixture.Primaries)
        {
            await server.ScriptFlushAsync();
        }

        await scope.IngestAsync(1, Root(b));

        Assert.Equal(Sorted(a, b, c), await scope.SegmentSpanIdsAsync(b));
        Assert.Equal(3, await scope.GetNumberAsync(scope.IngestedCountKey(b)));
        var node = Fixture.Connection.GetServer(scope.Db.IdentifyEndpoint(ProjectAndTrace)!);
        Assert.True(await node.ScriptExistsAsync(LuaScripts.AddBuffer.Hash));
        await scope.AssertEveryKeyHasTtlAsync();
    }
}

public sealed class IngestScriptCacheTestsOnStandalone(StandaloneRedisFixture fixture) : IngestScriptCacheTests(fixture);

public sealed class IngestScriptCacheTestsOnCluster(ClusterRedisFixture fixture) : IngestScriptCacheTests(fixture);
