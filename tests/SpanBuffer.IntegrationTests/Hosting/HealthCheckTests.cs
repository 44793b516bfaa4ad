using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.IntegrationTests.Hosting;

/// <summary><see cref="SpanFlusherHealthCheck"/>: the heartbeat (last completed flush attempt) against the max-unhealthy time.</summary>
public abstract class HealthCheckTests(RedisFixture fixture) : HostingTestBase(fixture)
{
    private static readonly TimeSpan MaxUnhealthyTime = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task HealthCheck_HeartbeatOlderThanMaxUnhealthyTime_IsUnhealthyUntilACycleCompletes()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = NewKeyPrefix(), MaxUnhealthyTime = MaxUnhealthyTime }, timeProvider: time);
        using var flusher = new SpanFlusher(buffer, new RecordingSink(), timeProvider: time);
        var check = new SpanFlusherHealthCheck(flusher);

        // A new flusher counts its age from creation.
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(check)).Status);
        time.Advance(MaxUnhealthyTime + TimeSpan.FromSeconds(1));

        var stale = await CheckAsync(check);
        Assert.Equal(HealthStatus.Unhealthy, stale.Status);
        Assert.Equal(61.0, stale.Data["heartbeat_age_seconds"]);
        Assert.False(flusher.IsHealthy);

        await flusher.FlushOnceAsync(flusher.Now, Ct);
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(check)).Status);
        Assert.Equal(TimeSpan.Zero, flusher.HeartbeatAge);

        time.Advance(MaxUnhealthyTime);
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(check)).Status);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(check)).Status);
    }

    [Fact]
    public async Task CheckBackpressure_StaleHeartbeat_LogsFlusherUnhealthy()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var logs = new FakeLogCollector();
        using var loggerFactory = new LoggerFactory([new FakeLoggerProvider(logs)]);
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = NewKeyPrefix(), MaxUnhealthyTime = MaxUnhealthyTime }, timeProvider: time);
        using var flusher = new SpanFlusher(buffer, new RecordingSink(), loggerFactory, time);
        time.Advance(MaxUnhealthyTime * 2);

        await flusher.CheckBackpressureAsync(Ct);

        var logged = Assert.Single(logs.GetSnapshot(), record => record.Id.Name == "FlusherUnhealthy");
        Assert.Equal(LogLevel.Warning, logged.Level);
    }

    private static Task<HealthCheckResult> CheckAsync(SpanFlusherHealthCheck check) =>
        check.CheckHealthAsync(new HealthCheckContext(), Ct);
}

public sealed class HealthCheckTestsOnStandalone(StandaloneRedisFixture fixture) : HealthCheckTests(fixture);

public sealed class HealthCheckTestsOnCluster(ClusterRedisFixture fixture) : HealthCheckTests(fixture);
