using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.IntegrationTests.Hosting;

/// <summary>
/// Soft backpressure (flushing at its per-shard limit for longer than the backpressure time, on the flusher's clock)
/// and hard backpressure (Redis memory above the configured ratio, summed over primaries).
/// </summary>
public abstract class BackpressureTests(RedisFixture fixture) : HostingTestBase(fixture)
{
    private static readonly TimeSpan BackpressureTime = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task SoftBackpressure_AtLimitForMoreThanBackpressureTime_PausesIngestUntilACycleIsNotAtLimit()
    {
        var prefix = NewKeyPrefix();
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        // One shard and MaxFlushSegments = 1: the per-shard cap is 1, so any segment with a span is "at limit"
        // (the reference's literal rule compares one segment's span count with the per-shard segment cap).
        var options = new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [Shard], MaxFlushSegments = 1, BackpressureTime = BackpressureTime };
        using var buffer = new SpansBuffer(Redis, options, timeProvider: time);
        using var flusher = new SpanFlusher(buffer, new RecordingSink(), timeProvider: time);
        var health = new SpanFlusherHealthCheck(flusher);

        await buffer.ProcessSpansAsync(TestSegment.Create(spanCount: 1).Spans, flusher.Now - 120, Ct);
        var first = await flusher.FlushOnceAsync(flusher.Now, Ct);

        Assert.True(first.AnyShardAtLimit);
        Assert.False(flusher.IsSoftBackpressureActive);
        Assert.False(flusher.ShouldPauseIngest);

        // Another cycle at limit 6 s later keeps the original start of the episode.
        time.Advance(TimeSpan.FromSeconds(6));
        await buffer.ProcessSpansAsync(TestSegment.Create(spanCount: 3).Spans, flusher.Now - 120, Ct);
        Assert.True((await flusher.FlushOnceAsync(flusher.Now, Ct)).AnyShardAtLimit);

        time.Advance(TimeSpan.FromSeconds(4));
        Assert.False(flusher.IsSoftBackpressureActive); // exactly BackpressureTime: not more than it
        Assert.False(await flusher.CheckBackpressureAsync(Ct));

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(flusher.IsSoftBackpressureActive);
        Assert.True(flusher.ShouldPauseIngest);
        Assert.False(flusher.IsHardBackpressureActive);
        Assert.True(await flusher.CheckBackpressureAsync(Ct));
        Assert.Equal(HealthStatus.Degraded, (await health.CheckHealthAsync(new HealthCheckContext(), Ct)).Status);

        // While ingest is paused the flush clock is frozen: message time does not move it.
        var drift = flusher.Drift;
        flusher.AdvanceClock(time.GetUtcNow().ToUnixTimeSeconds() + 300);
        Assert.Equal(drift, flusher.Drift);

        // A cycle that is not at limit (nothing due) ends the episode.
        var idle = await flusher.FlushOnceAsync(flusher.Now, Ct);

        Assert.False(idle.AnyShardAtLimit);
        Assert.Empty(idle.Segments);
        Assert.False(flusher.IsSoftBackpressureActive);
        Assert.False(flusher.ShouldPauseIngest);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(new HealthCheckContext(), Ct)).Status);
        flusher.AdvanceClock(time.GetUtcNow().ToUnixTimeSeconds() + 300);
        Assert.Equal(300, flusher.Drift);
        Assert.Equal(time.GetUtcNow().ToUnixTimeSeconds() + 300, flusher.Now);
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task SoftBackpressure_SegmentsBelowTheCap_NeverAtLimit()
    {
        var prefix = NewKeyPrefix();
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var options = new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [Shard], MaxFlushSegments = 4, BackpressureTime = BackpressureTime };
        using var buffer = new SpansBuffer(Redis, options, timeProvider: time);
        using var flusher = new SpanFlusher(buffer, new RecordingSink(), timeProvider: time);
        await buffer.ProcessSpansAsync(TestSegment.Create(spanCount: 3).Spans, flusher.Now - 120, Ct);

        var result = await flusher.FlushOnceAsync(flusher.Now, Ct);
        time.Advance(BackpressureTime * 2);

        Assert.Single(result.Segments);
        Assert.False(result.AnyShardAtLimit);
        Assert.False(flusher.ShouldPauseIngest);
    }

    [Fact]
    public async Task HardBackpressure_TinyMemoryRatio_PausesIngestAndLogsOncePerEpisode()
    {
        var prefix = NewKeyPrefix();
        var logs = new FakeLogCollector();
        using var loggerFactory = new LoggerFactory([new FakeLoggerProvider(logs)]);
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, MaxMemoryRatio = 0.0000001 }, loggerFactory);
        using var flusher = new SpanFlusher(buffer, new RecordingSink(), loggerFactory);

        Assert.True(await flusher.CheckBackpressureAsync(Ct));
        Assert.True(await flusher.CheckBackpressureAsync(Ct));

        Assert.True(flusher.IsHardBackpressureActive);
        Assert.False(flusher.IsSoftBackpressureActive);
        Assert.True(flusher.ShouldPauseIngest);
        var logged = Assert.Single(logs.GetSnapshot(), record => record.Id.Name == "HardBackpressure");
        Assert.Equal(LogLevel.Critical, logged.Level);
        Assert.Contains("Pausing consumer due to Redis being full", logged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HardBackpressure_RatioOne_IsDisabled()
    {
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = NewKeyPrefix(), MaxMemoryRatio = 1.0 });
        using var flusher = new SpanFlusher(buffer, new RecordingSink());

        Assert.False(await flusher.CheckBackpressureAsync(Ct));
        Assert.False(flusher.IsHardBackpressureActive);
        Assert.False(flusher.ShouldPauseIngest);
    }

    [Fact]
    public async Task GetMemoryUsage_ReturnsOneNodePerPrimaryAndSumsThem()
    {
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = NewKeyPrefix() });

        var usage = await buffer.GetMemoryUsageAsync(Ct);

        var expectedNodes = Fixture.Topology == RedisTopology.Cluster ? ClusterRedisFixture.OwnClusterPrimaries : 1;
        Assert.Equal(expectedNodes, usage.Nodes.Count);
        Assert.Equal(
            Fixture.Primaries.Select(primary => primary.EndPoint.ToString()).Order(StringComparer.Ordinal),
            usage.Nodes.Select(node => node.EndPoint).Order(StringComparer.Ordinal));
        Assert.All(usage.Nodes, node => Assert.True(node.UsedBytes > 0 && node.AvailableBytes > 0, node.ToString()));
        Assert.Equal(usage.Nodes.Sum(node => node.UsedBytes), usage.UsedBytes);
        Assert.Equal(usage.Nodes.Sum(node => node.AvailableBytes), usage.AvailableBytes);
        Assert.InRange(usage.Ratio, 0.0000001, 1.0);
    }

    [Fact]
    public async Task HardBackpressure_RatioRaisedThroughConfiguration_EndsOnTheNextCheck()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["SpanBuffer:KeyPrefix"] = NewKeyPrefix(),
                ["SpanBuffer:MaxMemoryRatio"] = "0.0000001",
            })
            .Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSingleton(Redis);
        services.AddSpanBuffer();
        services.AddSpanFlusher<RecordingSink>();
        await using var provider = services.BuildServiceProvider();
        var flusher = provider.GetRequiredService<SpanFlusher>();
        Assert.True(await flusher.CheckBackpressureAsync(Ct));

        configuration["SpanBuffer:MaxMemoryRatio"] = "1";
        configuration.Reload();

        Assert.False(await flusher.CheckBackpressureAsync(Ct));
        Assert.False(flusher.IsHardBackpressureActive);
        Assert.False(flusher.ShouldPauseIngest);
    }
}

public sealed class BackpressureTestsOnStandalone(StandaloneRedisFixture fixture) : BackpressureTests(fixture);

public sealed class BackpressureTestsOnCluster(ClusterRedisFixture fixture) : BackpressureTests(fixture);
