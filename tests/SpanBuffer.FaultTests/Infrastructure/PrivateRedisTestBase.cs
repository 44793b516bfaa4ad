using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.FaultTests.Infrastructure;

/// <summary>
/// Base of fault tests that damage Redis itself: each test starts its own servers (<see cref="StartRedisAsync"/>, a
/// standalone node or a three-primary cluster by default) and stops them afterwards. Derive one sealed class per
/// topology, as for the shared fixtures.
/// </summary>
public abstract class PrivateRedisTestBase : IAsyncLifetime
{
    private PrivateRedis? _redis;

    private protected abstract RedisTopology Topology { get; }

    private protected PrivateRedis Redis => _redis ?? throw new InvalidOperationException("Redis was not started.");

    /// <summary>Extra redis-server arguments for every node.</summary>
    private protected virtual string[] ServerArguments => [];

    public virtual async ValueTask InitializeAsync()
    {
        if (Executables.Find("redis-server") is null || Executables.Find("redis-cli") is null)
        {
            const string Reason = "redis-server and redis-cli are needed (apt-get install -y redis-server).";
            if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")))
            {
                Assert.Fail(Reason);
            }

            Assert.Skip(Reason);
        }

        _redis = await StartRedisAsync();
    }

    public virtual async ValueTask DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    private protected virtual Task<PrivateRedis> StartRedisAsync() => Topology == RedisTopology.Standalone
        ? PrivateRedis.StartStandaloneAsync(ServerArguments, Buffers.Token)
        : PrivateRedis.StartClusterAsync(masters: 3, replicasPerMaster: 0, ServerArguments, Buffers.Token);

    private protected static string NewKeyPrefix() => "fault-" + Guid.NewGuid().ToString("N")[..8];

    private protected SpansBuffer CreateBuffer(SpanBufferOptions options) => new(Redis.Connection, options);

    private protected async Task AssertNoKeysLeftAsync(string prefix)
    {
        var left = Buffers.Leftovers(await Redis.GetKeysAsync(prefix + ":*"));
        Assert.True(left.Count == 0, $"{left.Count} keys left after cleanup: {string.Join(", ", left.Take(5))}");
    }

    private protected async Task ScriptFlushEverywhereAsync()
    {
        foreach (var primary in Redis.Primaries)
        {
            await primary.ScriptFlushAsync();
        }
    }
}
