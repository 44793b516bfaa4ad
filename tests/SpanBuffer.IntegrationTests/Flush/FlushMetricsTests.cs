using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using SpanBuffer.IntegrationTests.Infrastructure;
using StackExchange.Redis;
using static SpanBuffer.IntegrationTests.Flush.IngestMessages;

namespace SpanBuffer.IntegrationTests.Flush;

/// <summary>
/// The flush statistics reach the meter once per flush, also when a step throws. Each test has its own
/// <see cref="IMeterFactory"/>, so parallel tests never see each other's measurements.
/// </summary>
public abstract class FlushMetricsTests(RedisFixture fixture) : FlushTestBase(fixture)
{
    private const string MeterName = "SpanBuffer";

    [Fact]
    public async Task Flush_QueueStepThrows_PublishesDurationTaggedWithErrorType()
    {
        var prefix = NewKeyPrefix();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        using var duration = new MetricCollector<double>(meterFactory, MeterName, "spanbuffer.flush.duration");
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix }, meterFactory: meterFactory);
        var queue = prefix + ":q:0";
        await Db.StringSetAsync(queue, "not a sorted set");

        var error = await Assert.ThrowsAsync<RedisServerException>(() => buffer.FlushSegmentsAsync(Now, TestContext.Current.CancellationToken));

        Assert.StartsWith("WRONGTYPE", error.Message, StringComparison.Ordinal);
        var total = Assert.Single(duration.GetMeasurementSnapshot(), m => !m.Tags.ContainsKey("stage"));
        Assert.Equal(typeof(RedisServerException).FullName, total.Tags["error.type"]);
        Assert.True(total.Value >= 0);
        await Db.KeyDeleteAsync(queue);
    }

    [Fact]
    public async Task Flush_LoadDataStepThrows_PublishesWhatTheEarlierStepsDid()
    {
        var prefix = NewKeyPrefix();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        using var duration = new MetricCollector<double>(meterFactory, MeterName, "spanbuffer.flush.duration");
        var trace = NewTraceId();
        using (var writer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix }))
        {
            await writer.ProcessSpansAsync([Create(trace, Id('a'), null)], Now, TestContext.Current.CancellationToken);
        }

        // A user that may read the queues but not the member indexes: the load step fails with a server error that
        // is not corrupt data (those are skipped), so the flush must fail.
        var user = "sbt-no-smembers-" + Guid.NewGuid().ToString("N")[..8];
        foreach (var server in Fixture.Primaries)
        {
            await server.ExecuteAsync("ACL", "SETUSER", user, "on", "nopass", "~*", "&*", "+@all", "-smembers");
        }

        try
        {
            var configuration = ConfigurationOptions.Parse(Fixture.ConnectionString);
            configuration.User = user;
            configuration.Password = "unused";
            await using var restricted = await ConnectionMultiplexer.ConnectAsync(configuration);
            using var buffer = new SpansBuffer(restricted, new SpanBufferOptions { KeyPrefix = prefix }, meterFactory: meterFactory);

            var error = await Assert.ThrowsAsync<RedisServerException>(() => buffer.FlushSegmentsAsync(Now + 10, TestContext.Current.CancellationToken));

            Assert.Contains("can't run this command", error.Message, StringComparison.Ordinal);
            var measurements = duration.GetMeasurementSnapshot();
            var total = Assert.Single(measurements, m => !m.Tags.ContainsKey("stage"));
            Assert.Equal(typeof(RedisServerException).FullName, total.Tags["error.type"]);
            Assert.Contains(measurements, m => Equals(m.Tags.GetValueOrDefault("stage"), "load_candidates"));
        }
        finally
        {
            foreach (var server in Fixture.Primaries)
            {
                await server.ExecuteAsync("ACL", "DELUSER", user);
            }
        }

        await FlushAndDoneAsync(new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix }), Now + 10);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_Succeeds_PublishesCountsAndStageDurationsWithoutErrorType()
    {
        var prefix = NewKeyPrefix();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        using var duration = new MetricCollector<double>(meterFactory, MeterName, "spanbuffer.flush.duration");
        using var spans = new MetricCollector<long>(meterFactory, MeterName, "spanbuffer.flush.spans");
        using var segments = new MetricCollector<long>(meterFactory, MeterName, "spanbuffer.flush.segments");
        using var lost = new MetricCollector<long>(meterFactory, MeterName, "spanbuffer.flush.lost_spans");
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [0, 3] }, meterFactory: meterFactory);
        var trace = NewTraceId();
        await buffer.ProcessSpansAsync([Create(trace, Id('a'), null, partition: 3), Create(trace, Id('b'), Id('a'), partition: 3)], Now, TestContext.Current.CancellationToken);

        var result = await FlushAndDoneAsync(buffer, Now + 10);

        Assert.Single(result.Segments);
        var measurements = duration.GetMeasurementSnapshot();
        var total = Assert.Single(measurements, m => !m.Tags.ContainsKey("stage"));
        Assert.False(total.Tags.ContainsKey("error.type"));
        Assert.Equal(
            new[] { "acquire_locks", "build", "decompress", "load_candidates", "load_data", "record_losses" },
            measurements.Where(m => m.Tags.ContainsKey("stage")).Select(m => (string)m.Tags["stage"]!).Order(StringComparer.Ordinal));
        Assert.Equal(2, spans.GetMeasurementSnapshot().EvaluateAsCounter());
        var perShard = Assert.Single(segments.GetMeasurementSnapshot());
        Assert.Equal(1, perShard.Value);
        Assert.Equal(3, perShard.Tags["shard"]);
        Assert.Equal(0, lost.GetMeasurementSnapshot().EvaluateAsCounter());
        await AssertNoKeysLeftAsync(prefix);
    }
}

public sealed class FlushMetricsTestsOnStandalone(StandaloneRedisFixture fixture) : FlushMetricsTests(fixture);

public sealed class FlushMetricsTestsOnCluster(ClusterRedisFixture fixture) : FlushMetricsTests(fixture);
