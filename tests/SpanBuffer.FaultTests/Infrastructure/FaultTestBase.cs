using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.FaultTests.Infrastructure;

/// <summary>Base of fault tests that run on the shared fixtures (faults confined to the test's own key prefix).</summary>
public abstract class FaultTestBase(RedisFixture fixture) : RedisTestBase(fixture)
{
    protected SpansBuffer CreateBuffer(string prefix, TimeSpan? flushLockTtl = null) => new(Redis, Buffers.Options(prefix, flushLockTtl));

    protected Task<IReadOnlyList<string>> KeysAsync(string pattern) => Fixture.GetKeysAsync(pattern);

    protected async Task AssertNoKeysLeftAsync(string prefix)
    {
        var left = Buffers.Leftovers(await KeysAsync(prefix + ":*"));
        Assert.True(left.Count == 0, $"{left.Count} keys left after cleanup: {string.Join(", ", left.Take(5))}");
    }
}
