using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using SpanBuffer.Diagnostics;
using SpanBuffer.Ingest;

namespace SpanBuffer.Tests;

public sealed class IngestStatsTests : IDisposable
{
    private readonly TestMeterFactory _meterFactory = new();
    private readonly SpanBufferMetrics _metrics;
    private readonly FakeLogger _logger = new();

    public IngestStatsTests()
    {
        _metrics = new SpanBufferMetrics(_meterFactory);
    }

    public void Dispose()
    {
        _metrics.Dispose();
        _meterFactory.Dispose();
    }

    private static IngestStats CreateSut(Exception? error = null, long compressedBytes = 300) => new()
    {
        Spans = 50,
        RootSpans = 3,
        Trees = 7,
        ScriptCalls = 9,
        DetachedTooLarge = 2,
        DetachedLocked = 1,
        MergedSegments = 4,
        UncompressedBytes = 1000,
        CompressedBytes = compressedBytes,
        InsertSpans = TimeSpan.FromMilliseconds(3),
        UpdateQueue = TimeSpan.FromMilliseconds(4),
        Total = TimeSpan.FromMilliseconds(10),
        Error = error,
    };

    private static long Single(MetricCollector<long> collector) => Assert.Single(collector.GetMeasurementSnapshot()).Value;

    private static long Tagged(MetricCollector<long> collector, string tag, object value) =>
        Assert.Single(collector.GetMeasurementSnapshot(), m => Equals(m.Tags.GetValueOrDefault(tag), value)).Value;

    [Fact]
    public void Publish_Durations_RecordTotalAndEveryStageInSeconds()
    {
        using var duration = new MetricCollector<double>(_metrics.IngestDuration);

        CreateSut().Publish(_metrics, _logger);

        var measurements = duration.GetMeasurementSnapshot();
        Assert.Equal(3, measurements.Count);
        Assert.Equal(0.010, Assert.Single(measurements, m => m.Tags.Count == 0).Value, 9);
        Assert.Equal(
            new Dictionary<string, double> { ["insert_spans"] = 0.003, ["update_queue"] = 0.004 },
            measurements.Where(m => m.Tags.ContainsKey("stage")).ToDictionary(m => (string)m.Tags["stage"]!, m => m.Value));
    }

    [Fact]
    public void Publish_Counts_MapToTheIngestInstruments()
    {
        using var spans = new MetricCollector<long>(_metrics.IngestSpans);
        using var batchSpans = new MetricCollector<long>(_metrics.IngestBatchSpans);
        using var rootSpans = new MetricCollector<long>(_metrics.IngestBatchRootSpans);
        using var trees = new MetricCollector<long>(_metrics.IngestBatchTrees);
        using var calls = new MetricCollector<long>(_metrics.IngestBatchScriptCalls);
        using var merged = new MetricCollector<long>(_metrics.IngestMergedSegments);

        CreateSut().Publish(_metrics, _logger);

        Assert.Equal(50, Single(spans));
        Assert.Equal(50, Single(batchSpans));
        Assert.Equal(3, Single(rootSpans));
        Assert.Equal(7, Single(trees));
        Assert.Equal(9, Single(calls));
        Assert.Equal(4, Single(merged));
    }

    [Fact]
    public void Publish_DetachedSegments_TaggedWithReason()
    {
        using var detached = new MetricCollector<long>(_metrics.IngestDetachedSegments);

        CreateSut().Publish(_metrics, _logger);

        Assert.Equal(2, Tagged(detached, "reason", "too_large"));
        Assert.Equal(1, Tagged(detached, "reason", "flush_locked"));
    }

    [Fact]
    public void Publish_Compressed_RecordsOriginalAndStoredBytes()
    {
        using var bytes = new MetricCollector<long>(_metrics.IngestPayloadBytes);

        CreateSut().Publish(_metrics, _logger);

        Assert.Equal(1000, Tagged(bytes, "form", "original"));
        Assert.Equal(300, Tagged(bytes, "form", "stored"));
    }

    [Fact]
    public void Publish_NotCompressed_RecordsNoPayloadBytes()
    {
        using var bytes = new MetricCollector<long>(_metrics.IngestPayloadBytes);

        CreateSut(compressedBytes: 0).Publish(_metrics, _logger);

        Assert.Empty(bytes.GetMeasurementSnapshot());
    }

    [Fact]
    public void Publish_Success_LogsIngestCompleted()
    {
        CreateSut().Publish(_metrics, _logger);

        var record = Assert.Single(_logger.Collector.GetSnapshot());
        Assert.Equal(1, record.Id.Id);
        Assert.Equal("IngestCompleted", record.Id.Name);
        Assert.Equal(LogLevel.Debug, record.Level);
        Assert.Equal("50", record.GetStructuredStateValue("SpanCount"));
        Assert.Equal("3", record.GetStructuredStateValue("DetachedCount"));
    }

    [Fact]
    public void Publish_WithError_RecordsOnlyDurationsTaggedErrorType()
    {
        using var duration = new MetricCollector<double>(_metrics.IngestDuration);
        using var spans = new MetricCollector<long>(_metrics.IngestSpans);

        CreateSut(new InvalidOperationException()).Publish(_metrics, _logger);

        var total = Assert.Single(duration.GetMeasurementSnapshot(), m => m.Tags.ContainsKey("error.type"));
        Assert.Equal("System.InvalidOperationException", total.Tags["error.type"]);
        Assert.Empty(spans.GetMeasurementSnapshot());
        Assert.Empty(_logger.Collector.GetSnapshot());
    }

    [Fact]
    public void Instruments_IngestNamesAndUnits_AsDeclared()
    {
        (Instrument Instrument, string Name, string Unit)[] expected =
        [
            (_metrics.IngestSpans, "spanbuffer.ingest.spans", "{span}"),
            (_metrics.IngestBatchSpans, "spanbuffer.ingest.batch.spans", "{span}"),
            (_metrics.IngestBatchRootSpans, "spanbuffer.ingest.batch.root_spans", "{span}"),
            (_metrics.IngestBatchTrees, "spanbuffer.ingest.batch.subsegments", "{subsegment}"),
            (_metrics.IngestBatchScriptCalls, "spanbuffer.ingest.batch.script_calls", "{call}"),
            (_metrics.IngestDuration, "spanbuffer.ingest.duration", "s"),
            (_metrics.IngestDetachedSegments, "spanbuffer.ingest.detached_segments", "{segment}"),
            (_metrics.IngestMergedSegments, "spanbuffer.ingest.merged_segments", "{segment}"),
            (_metrics.IngestPayloadBytes, "spanbuffer.ingest.payload_bytes", "By"),
        ];

        Assert.All(expected, e => Assert.Equal((e.Name, e.Unit), (e.Instrument.Name, e.Instrument.Unit)));
    }
}
