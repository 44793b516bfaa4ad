using SpanBuffer.IntegrationTests.Infrastructure;
using static SpanBuffer.IntegrationTests.Ingest.SpanFactory;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>The script writes its counters as exact integers, with the TTL it was given.</summary>
public abstract class IngestCounterTests(RedisFixture fixture) : IngestTestBase(fixture)
{
    [Fact]
    public async Task ProcessSpans_CountersBeyondFourteenDigits_StayExactIntegers()
    {
        // Lua turns numbers into strings with 14 significant digits (exponent notation above), so the script formats
        // counters itself; 2^53 - 1 is the largest count a Lua number holds exactly.
        using var scope = NewScope(options => options.MaxSegmentBytes = 0);
        var root = Id('a');
        await scope.IngestAsync(0, Root(root, bytes: 100));
        await scope.Db.StringSetAsync(scope.IngestedCountKey(root), "9007199254740000");
        await scope.Db.StringSetAsync(scope.IngestedBytesKey(root), "123456789012345");

        await scope.IngestAsync(1, Child(Id('b'), root, bytes: 77));

        Assert.Equal("9007199254740001", (string?)await scope.Db.StringGetAsync(scope.IngestedCountKey(root)));
        Assert.Equal("123456789012422", (string?)await scope.Db.StringGetAsync(scope.IngestedBytesKey(root)));
        foreach (var key in new[] { scope.IngestedCountKey(root), scope.IngestedBytesKey(root), scope.MemberKeysKey(root), scope.RedirectKey() })
        {
            Assert.InRange((await scope.Db.KeyTimeToLiveAsync(key))!.Value, TimeSpan.FromSeconds(3590), TimeSpan.FromSeconds(3600));
        }
    }
}

public sealed class IngestCounterTestsOnStandalone(StandaloneRedisFixture fixture) : IngestCounterTests(fixture);

public sealed class IngestCounterTestsOnCluster(ClusterRedisFixture fixture) : IngestCounterTests(fixture);
