using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.IntegrationTests.Hosting;

/// <summary>Instruments (names, units, tags) published through the DI <see cref="IMeterFactory"/>, and activities on the "SpanBuffer" source.</summary>
public abstract class MetricsTests(RedisFixture fixture) : HostingTestBase(fixture)
{
    private const string MeterName = "SpanBuffer";
    private const long IngestTime = 1_700_000_000;

    [Fact]
    public async Task IngestFlushAndCleanup_ThroughTheFlusher_EmitTheDocumentedInstruments()
    {
        var prefix = NewKeyPrefix();
        var services = new ServiceCollection();
        services.AddMetrics();
        services.AddSingleton(Redis);
        services.AddSpanBuffer(options =>
        {
            options.KeyPrefix = prefix;
            options.AssignedShards = [Shard];
        });
        services.AddSpanFlusher<RecordingSink>();
        await using var provider = services.BuildServiceProvider();
        var meterFactory = provider.GetRequiredService<IMeterFactory>();
        using var ingestSpans = new MetricCollector<long>(meterFactory, MeterName, "spanbuffer.ingest.spans");
        using var ingestDuration = new MetricCollector<double>(meterFactory, MeterName, "spanbuffer.ingest.duration");
        using var flushDuration = new MetricCollector<double>(meterFactory, MeterName, "spanbuffer.flush.duration");
        using var flushSegments = new MetricCollector<long>(meterFactory, MeterName, "spanbuffer.flush.segments");
        using var flushSpans = new MetricCollector<long>(meterFactory, MeterName, "spanbuffer.flush.spans");
        using var cleanupSegments = new MetricCollector<long>(meterFactory, MeterName, "spanbuffer.cleanup.segments");
        using var messageSize = new MetricCollector<long>(meterFactory, MeterName, "spanbuffer.flusher.message.size");
        using var cycles = new MetricCollector<long>(meterFactory, MeterName, "spanbuffer.flusher.cycles");
        var buffer = provider.GetRequiredService<SpansBuffer>();
        var flusher = provider.GetRequiredService<SpanFlusher>();
        var sink = (RecordingSink)provider.GetRequiredService<ISegmentSink>();
        var segment = TestSegment.Create(spanCount: 3);

        await buffer.ProcessSpansAsync(segment.Spans, IngestTime, Ct);
        await flusher.FlushOnceAsync(IngestTime + 60, Ct);

        AssertUnit("{span}", ingestSpans);
        Assert.Equal(3, Sum(ingestSpans));
        AssertUnit("s", ingestDuration);
        Assert.Contains(ingestDuration.GetMeasurementSnapshot(), m => !m.Tags.ContainsKey("stage") && m.Value >= 0);
        Assert.Contains(ingestDuration.GetMeasurementSnapshot(), m => Equals(m.Tags.GetValueOrDefault("stage"), "insert_spans"));
        AssertUnit("s", flushDuration);
        Assert.Contains(flushDuration.GetMeasurementSnapshot(), m => !m.Tags.ContainsKey("stage") && m.Value >= 0);
        AssertUnit("{segment}", flushSegments);
        var perShard = Assert.Single(flushSegments.GetMeasurementSnapshot());
        Assert.Equal(1, perShard.Value);
        Assert.Equal(Shard, perShard.Tags["shard"]);
        AssertUnit("{span}", flushSpans);
        Assert.Equal(3, Sum(flushSpans));
        AssertUnit("{segment}", cleanupSegments);
        Assert.Equal(1, Sum(cleanupSegments));
        AssertUnit("By", messageSize);
        Assert.Equal(Assert.Single(sink.Delivered).Length, Assert.Single(messageSize.GetMeasurementSnapshot()).Value);
        AssertUnit("{cycle}", cycles);
        var cycle = Assert.Single(cycles.GetMeasurementSnapshot());
        Assert.Equal(1, cycle.Value);
        Assert.False(cycle.Tags.ContainsKey("error.type"));
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task FailedCycle_CountsCycleWithErrorType()
    {
        var prefix = NewKeyPrefix();
        var services = new ServiceCollection();
        services.AddMetrics();
        services.AddSingleton(Redis);
        services.AddSpanBuffer(options => options.KeyPrefix = prefix);
        services.AddSingleton<ISegmentSink>(new RecordingSink { OnProduce = (_, _) => Task.FromException(new IOException("broker unavailable")) });
        services.AddSpanFlusher<RecordingSink>();
        await using var provider = services.BuildServiceProvider();
        using var cycles = new MetricCollector<long>(provider.GetRequiredService<IMeterFactory>(), MeterName, "spanbuffer.flusher.cycles");
        var buffer = provider.GetRequiredService<SpansBuffer>();
        await buffer.ProcessSpansAsync(TestSegment.Create().Spans, IngestTime, Ct);

        await Assert.ThrowsAsync<IOException>(() => provider.GetRequiredService<SpanFlusher>().FlushOnceAsync(IngestTime + 60, Ct));

        var cycle = Assert.Single(cycles.GetMeasurementSnapshot());
        Assert.Equal(typeof(IOException).FullName, cycle.Tags["error.type"]);
        await DeleteKeysAsync(prefix);
    }

    [Fact]
    public async Task IngestAndFlush_ActivityListener_SeesIngestFlushAndCycleActivities()
    {
        var prefix = NewKeyPrefix();
        using var testSource = new ActivitySource(typeof(MetricsTests).FullName!);
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "SpanBuffer" || ReferenceEquals(source, testSource),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix });
        using var flusher = new SpanFlusher(buffer, new RecordingSink());

        ActivityTraceId traceId;
        using (var root = testSource.StartActivity("test"))
        {
            Assert.NotNull(root);
            traceId = root.TraceId;
            await buffer.ProcessSpansAsync(TestSegment.Create(spanCount: 2).Spans, IngestTime, Ct);
            await flusher.FlushOnceAsync(IngestTime + 60, Ct);
        }

        // Parallel tests emit activities too; keep the ones under this test's root.
        var mine = stopped.Where(activity => activity.TraceId == traceId && activity.Source.Name == "SpanBuffer").ToList();
        var ingest = Assert.Single(mine, activity => activity.OperationName == "spanbuffer.ingest");
        Assert.Equal(2, ingest.GetTagItem("spanbuffer.spans"));
        var flush = Assert.Single(mine, activity => activity.OperationName == "spanbuffer.flush");
        Assert.Equal(1, flush.GetTagItem("spanbuffer.segments"));
        var cycle = Assert.Single(mine, activity => activity.OperationName == "spanbuffer.flusher.cycle");
        Assert.Equal(cycle.SpanId, flush.ParentSpanId);
        Assert.All(mine, activity => Assert.Equal(ActivityStatusCode.Unset, activity.Status));
    }

    private static void AssertUnit<T>(string unit, MetricCollector<T> collector)
        where T : struct
    {
        Assert.NotNull(collector.Instrument);
        Assert.Equal(unit, collector.Instrument.Unit);
    }

    private static long Sum(MetricCollector<long> collector) => collector.GetMeasurementSnapshot().Sum(measurement => measurement.Value);
}

public sealed class MetricsTestsOnStandalone(StandaloneRedisFixture fixture) : MetricsTests(fixture);

public sealed class MetricsTestsOnCluster(ClusterRedisFixture fixture) : MetricsTests(fixture);
