using System.Runtime.CompilerServices;
using System.Text;
using StackExchange.Redis;

namespace SpanBuffer.IntegrationTests.Infrastructure;

/// <summary>
/// Base class of every real-Redis test class. Write the tests once in an abstract class taking a
/// <see cref="RedisFixture"/>, then derive one sealed class per topology:
/// <code>
/// public abstract class StoreTests(RedisFixture fixture) : RedisTestBase(fixture) { [Fact] ... }
/// public sealed class StoreTestsOnStandalone(StandaloneRedisFixture fixture) : StoreTests(fixture);
/// public sealed class StoreTestsOnCluster(ClusterRedisFixture fixture) : StoreTests(fixture);
/// </code>
/// Tests share one server per topology and run in parallel, so each test keeps to its own keys through
/// <see cref="NewKeyPrefix"/>; nothing is flushed between tests.
/// </summary>
public abstract class RedisTestBase : IAsyncLifetime
{
    private const int MaxNameLength = 40;

    protected RedisTestBase(RedisFixture fixture)
    {
        ArgumentNullException.ThrowIfNull(fixture);
        Fixture = fixture;
    }

    protected RedisFixture Fixture { get; }

    protected IConnectionMultiplexer Redis => Fixture.Connection;

    protected IDatabase Db => Redis.GetDatabase();

    /// <summary>
    /// Skips the test when no Redis is available, or fails it when the environment variable CI is set or
    /// when Redis was found but could not be used.
    /// </summary>
    public virtual ValueTask InitializeAsync()
    {
        if (Fixture.UnavailableReason is { } reason)
        {
            if (Fixture.FailInsteadOfSkip)
            {
                Assert.Fail(reason);
            }

            if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")))
            {
                Assert.Fail($"{reason} (CI is set, so this fails instead of skipping.)");
            }

            Assert.Skip(reason);
        }

        return ValueTask.CompletedTask;
    }

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// A unique key prefix for one test, e.g. <c>sbt-Flush_Empty_ReturnsNothing-3f2a9c1e</c>: "sbt-", the caller's
    /// name (characters other than [A-Za-z0-9_-] become '_', at most 40), '-', and 8 random hex digits. It has no
    /// ':', '{', '}' or whitespace, so it can be the library's key prefix.
    /// </summary>
    protected string NewKeyPrefix([CallerMemberName] string name = "")
    {
        var prefix = new StringBuilder("sbt-", 4 + MaxNameLength + 9);
        foreach (var c in name.AsSpan(0, Math.Min(name.Length, MaxNameLength)))
        {
            prefix.Append(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '_');
        }

        return prefix.Append('-').Append(Guid.NewGuid().ToString("N").AsSpan(0, 8)).ToString();
    }
}
