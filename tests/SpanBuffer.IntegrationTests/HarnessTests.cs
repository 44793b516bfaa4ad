using SpanBuffer.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace SpanBuffer.IntegrationTests;

/// <summary>Checks the Redis test harness itself, on both topologies; also the pattern every integration test class follows.</summary>
public abstract class HarnessTests(RedisFixture fixture) : RedisTestBase(fixture)
{
    [Fact]
    public async Task Ping_EveryPrimary_Answers()
    {
        await Db.PingAsync();
        foreach (var primary in Fixture.Primaries)
        {
            await primary.PingAsync();
        }
    }

    [Fact]
    public async Task GetKeysAsync_KeysSetThroughDb_FindsAllOfThemAndNoOthers()
    {
        var prefix = NewKeyPrefix();
        var expected = Enumerable.Range(0, 32).Select(i => $"{prefix}:{{tag-{i}}}:key").Order(StringComparer.Ordinal).ToArray();
        await Task.WhenAll(expected.Select(key => Db.StringSetAsync(key, "value")));
        await Db.StringSetAsync($"other-{prefix}", "value");

        var found = await Fixture.GetKeysAsync($"{prefix}:*");

        Assert.Equal(expected, found);
    }

    [Fact]
    public async Task Primaries_Topology_MatchesDeployment()
    {
        var primaries = Fixture.Primaries.ToArray();

        if (Fixture.Topology == RedisTopology.Standalone)
        {
            var primary = Assert.Single(primaries);
            Assert.Equal(ServerType.Standalone, primary.ServerType);
            return;
        }

        Assert.Equal(ClusterRedisFixture.OwnClusterPrimaries, primaries.Length);
        Assert.All(primaries, primary => Assert.Equal(ServerType.Cluster, primary.ServerType));

        // Different hash tags land on different slots, and keys spread over more than one primary.
        var prefix = NewKeyPrefix();
        var keys = Enumerable.Range(0, 32).Select(i => $"{prefix}:{{tag-{i}}}:key").ToArray();
        Assert.Equal(keys.Length, keys.Select(key => Redis.HashSlot(key)).Distinct().Count());
        Assert.Equal(Redis.HashSlot($"{prefix}:{{tag-1}}:a"), Redis.HashSlot($"other:{{tag-1}}:b"));
        await Task.WhenAll(keys.Select(key => Db.StringSetAsync(key, "value")));
        var primariesHoldingKeys = 0;
        foreach (var primary in primaries)
        {
            await foreach (var _ in primary.KeysAsync(pattern: $"{prefix}:*"))
            {
                primariesHoldingKeys++;
                break;
            }
        }

        Assert.True(primariesHoldingKeys > 1, $"All {keys.Length} keys landed on one primary.");
    }

    [Fact]
    public void NewKeyPrefix_AnyCallerName_UsesOnlyKeyPrefixCharacters()
    {
        string[] prefixes =
        [
            NewKeyPrefix(),
            NewKeyPrefix("name with spaces:{braces}\tand\u00e9more"),
            NewKeyPrefix(new string('x', 100)),
            NewKeyPrefix(""),
        ];

        Assert.All(prefixes, prefix =>
        {
            Assert.StartsWith("sbt-", prefix, StringComparison.Ordinal);
            Assert.True(prefix.Length <= 4 + 40 + 1 + 8, prefix);
            Assert.All(prefix, c => Assert.True(char.IsAsciiLetterOrDigit(c) || c is '_' or '-', $"'{c}' in {prefix}"));
        });
        Assert.StartsWith("sbt-NewKeyPrefix_AnyCallerName_UsesOnlyKeyPrefixCharacters"[..44] + "-", prefixes[0], StringComparison.Ordinal);
        Assert.NotEqual(NewKeyPrefix("same"), NewKeyPrefix("same"));
    }
}

public sealed class HarnessTestsOnStandalone(StandaloneRedisFixture fixture) : HarnessTests(fixture);

public sealed class HarnessTestsOnCluster(ClusterRedisFixture fixture) : HarnessTests(fixture);
