using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using SpanBuffer.Diagnostics;
using SpanBuffer.Flush;

namespace SpanBuffer.Tests;

public sealed class FlushStatsTests : IDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly TestMeterFactory _meterFactory = new();
    private readonly SpanBufferMetrics _metrics;
    private readonly FakeLogger _logger = new();

    public FlushStatsTests()
    {
        _metrics = new SpanBufferMetrics(_meterFactory);
    }

    public void Dispose()
    {
        _metrics.Dispose();
        _meterFactory.Dispose();
    }

    private FlushStats CreateSut(Exception? error = null)
    {
        var stats = new FlushStats(_time)
        {
            Candidates = 9,
            LocksAcquired = 7,
            LockContention = 2,
            SegmentsLoaded = 6,
            EmptySegments = 1,
            SegmentsWithRoot = 4,
            SpansFlushed = 40,
            DroppedSpans = 3,
            InvalidPayloads = 5,
            ExpiredSegments = 8,
            AnyShardAtLimit = true,
            LoadCandidates = TimeSpan.FromMilliseconds(1),
            AcquireLocks = TimeSpan.FromMilliseconds(2),
            LoadData = TimeSpan.FromMilliseconds(3),
            Decompress = TimeSpan.FromMilliseconds(4),
            RecordLosses = TimeSpan.FromMilliseconds(5),
            Build = TimeSpan.FromMilliseconds(6),
            Total = TimeSpan.FromMilliseconds(30),
            Error = error,
        };
        stats.CandidatesPerShard[0] = 4;
        stats.CandidatesPerShard[3] = 2;
        stats.SpansPerSegment.AddRange([10, 30]);
        stats.IngestedSpansPerSegment.AddRange([11L, 31L]);
        stats.IngestedBytesPerSegment.AddRange([1100L, 3100L]);
        return stats;
    }

    private static long Single(MetricCollector<long> collector) => Assert.Single(collector.GetMeasurementSnapshot()).Value;

    private static long Tagged(MetricCollector<long> collector, string tag, object value) =>
        Assert.Single(collector.GetMeasurementSnapshot(), m => Equals(m.Tags.GetValueOrDefault(tag), value)).Value;

    [Fact]
    public void Constructor_TimeProvider_IsKept()
    {
        Assert.Same(_time, new FlushStats(_time).Time);
    }

    [Fact]
    public void Publish_Durations_RecordTotalUntaggedAndEveryStageInSeconds()
    {
        using var duration = new MetricCollector<double>(_metrics.FlushDuration);

        CreateSut().Publish(_metrics, _logger);

        var measurements = duration.GetMeasurementSnapshot();
        Assert.Equal(7, measurements.Count);
        Assert.Equal(0.030, Assert.Single(measurements, m => m.Tags.Count == 0).Value, 9);
        var stages = measurements.Where(m => m.Tags.ContainsKey("stage")).ToDictionary(m => (string)m.Tags["stage"]!, m => m.Value);
        Assert.Equal(
            new Dictionary<string, double>
            {
                ["load_candidates"] = 0.001,
                ["acquire_locks"] = 0.002,
                ["load_data"] = 0.003,
                ["decompress"] = 0.004,
                ["record_losses"] = 0.005,
                ["build"] = 0.006,
            },
            stages);
    }

    [Fact]
    public void Publish_SegmentsPerShard_TaggedWithShard()
    {
        using var segments = new MetricCollector<long>(_metrics.FlushSegments);

        CreateSut().Publish(_metrics, _logger);

        Assert.Equal(2, segments.GetMeasurementSnapshot().Count);
        Assert.Equal(4, Tagged(segments, "shard", 0));
        Assert.Equal(2, Tagged(segments, "shard", 3));
    }

    [Fact]
    public void Publish_Counters_MapEachField()
    {
        using var candidates = new MetricCollector<long>(_metrics.FlushCandidates);
        using var locked = new MetricCollector<long>(_metrics.FlushLocksAcquired);
        using var contention = new MetricCollector<long>(_metrics.FlushLockContention);
        using var atLimit = new MetricCollector<long>(_metrics.FlushAtLimit);
        using var spans = new MetricCollector<long>(_metrics.FlushSpans);
        using var empty = new MetricCollector<long>(_metrics.FlushEmptySegments);
        using var withRoot = new MetricCollector<long>(_metrics.FlushSegmentsWithRoot);

        CreateSut().Publish(_metrics, _logger);

        Assert.Equal(9, Single(candidates));
        Assert.Equal(7, Single(locked));
        Assert.Equal(2, Single(contention));
        Assert.Equal(1, Single(atLimit));
        Assert.Equal(40, Single(spans));
        Assert.Equal(1, Single(empty));
        Assert.Equal(4, Single(withRoot));
    }

    [Fact]
    public void Publish_LossesFound_AreLeftToCleanup()
    {
        // A flush whose hand-off fails is flushed again: counting its losses here would count them twice.
        using var lost = new MetricCollector<long>(_metrics.FlushLostSpans);
        using var expired = new MetricCollector<long>(_metrics.FlushExpiredSegments);

        CreateSut().Publish(_metrics, _logger);

        Assert.Empty(lost.GetMeasurementSnapshot());
        Assert.Empty(expired.GetMeasurementSnapshot());
    }

    [Fact]
    public void Publish_Histograms_RecordCycleAndPerSegmentValues()
    {
        using var cycle = new MetricCollector<long>(_metrics.FlushCycleSegments);
        using var segmentSpans = new MetricCollector<long>(_metrics.FlushSegmentSpans);
        using var ingestedSpans = new MetricCollector<long>(_metrics.FlushSegmentIngestedSpans);
        using var ingestedBytes = new MetricCollector<long>(_metrics.FlushSegmentIngestedBytes);

        CreateSut().Publish(_metrics, _logger);

        Assert.Equal(6, Single(cycle));
        Assert.Equal([10L, 30L], segmentSpans.GetMeasurementSnapshot().Select(m => m.Value));
        Assert.Equal([11L, 31L], ingestedSpans.GetMeasurementSnapshot().Select(m => m.Value));
        Assert.Equal([1100L, 3100L], ingestedBytes.GetMeasurementSnapshot().Select(m => m.Value));
    }

    [Fact]
    public void Instruments_FlushNamesAndUnits_AsDeclared()
    {
        (Instrument Instrument, string Name, string Unit)[] expected =
        [
            (_metrics.FlushDuration, "spanbuffer.flush.duration", "s"),
            (_metrics.FlushSegments, "spanbuffer.flush.segments", "{segment}"),
            (_metrics.FlushLockContention, "spanbuffer.flush.lock_contention", "{segment}"),
            (_metrics.FlushSpans, "spanbuffer.flush.spans", "{span}"),
            (_metrics.FlushEmptySegments, "spanbuffer.flush.empty_segments", "{segment}"),
            (_metrics.FlushSegmentsWithRoot, "spanbuffer.flush.segments_with_root", "{segment}"),
            (_metrics.FlushLostSpans, "spanbuffer.flush.lost_spans", "{span}"),
            (_metrics.FlushExpiredSegments, "spanbuffer.flush.expired_segments", "{segment}"),
            (_metrics.FlushCycleSegments, "spanbuffer.flush.cycle.segments", "{segment}"),
            (_metrics.FlushSegmentSpans, "spanbuffer.flush.segment.spans", "{span}"),
            (_metrics.FlushSegmentIngestedSpans, "spanbuffer.flush.segment.ingested_spans", "{span}"),
            (_metrics.FlushSegmentIngestedBytes, "spanbuffer.flush.segment.ingested_bytes", "By"),
        ];

        Assert.All(expected, e => Assert.Equal((e.Name, e.Unit), (e.Instrument.Name, e.Instrument.Unit)));
        Assert.All(expected, e => Assert.Equal(SpanBufferMetrics.MeterName, e.Instrument.Meter.Name));
    }

    [Fact]
    public void Metrics_WithMeterFactory_CreateTheirMeterThroughIt()
    {
        var meter = Assert.Single(_meterFactory.Meters);

        Assert.Equal("SpanBuffer", meter.Name);
        Assert.Same(meter, _metrics.FlushSpans.Meter);
        Assert.Same(_meterFactory, meter.Scope);
    }

    [Fact]
    public void Publish_SuccessWithLosses_LogsOneSpansLostLineInsteadOfFlushCompleted()
    {
        CreateSut().Publish(_metrics, _logger);

        var records = _logger.Collector.GetSnapshot();
        var lost = Assert.Single(records);
        Assert.Equal(4, lost.Id.Id);
        Assert.Equal("SpansLost", lost.Id.Name);
        Assert.Equal(LogLevel.Warning, lost.Level);
        Assert.Equal("6", lost.GetStructuredStateValue("SegmentCount"));
        Assert.Equal("40", lost.GetStructuredStateValue("SpanCount"));
        Assert.Equal("2", lost.GetStructuredStateValue("ContendedCount"));
        Assert.Equal("True", lost.GetStructuredStateValue("AnyShardAtLimit"));
        Assert.Equal("8", lost.GetStructuredStateValue("LostSpanCount"));
        Assert.Equal("8", lost.GetStructuredStateValue("ExpiredSegmentCount"));
    }

    [Fact]
    public void Publish_NoLosses_LogsNoSpansLost()
    {
        var stats = CreateSut();
        stats.DroppedSpans = 0;
        stats.InvalidPayloads = 0;
        stats.ExpiredSegments = 0;

        stats.Publish(_metrics, _logger);

        var completed = Assert.Single(_logger.Collector.GetSnapshot());
        Assert.Equal(2, completed.Id.Id);
        Assert.Equal("FlushCompleted", completed.Id.Name);
        Assert.Equal(LogLevel.Debug, completed.Level);
    }

    [Fact]
    public void Publish_WithError_RecordsDurationTaggedErrorTypeAndLogsFlushFailed()
    {
        using var duration = new MetricCollector<double>(_metrics.FlushDuration);
        var error = new TimeoutException("redis timed out");

        CreateSut(error).Publish(_metrics, _logger);

        var total = Assert.Single(duration.GetMeasurementSnapshot(), m => m.Tags.ContainsKey("error.type"));
        Assert.Equal("System.TimeoutException", total.Tags["error.type"]);
        Assert.Equal(0.030, total.Value, 9);
        var record = Assert.Single(_logger.Collector.GetSnapshot());
        Assert.Equal(3, record.Id.Id);
        Assert.Equal("FlushFailed", record.Id.Name);
        Assert.Equal(LogLevel.Error, record.Level);
        Assert.Same(error, record.Exception);
        Assert.Equal("9", record.GetStructuredStateValue("CandidateCount"));
        Assert.Equal("7", record.GetStructuredStateValue("LockedCount"));
    }

    [Fact]
    public void Publish_WithoutError_DurationHasNoErrorTag()
    {
        using var duration = new MetricCollector<double>(_metrics.FlushDuration);

        CreateSut().Publish(_metrics, _logger);

        Assert.DoesNotContain(duration.GetMeasurementSnapshot(), m => m.Tags.ContainsKey("error.type"));
    }

    [Fact]
    public void ToSnapshot_CopiesEveryCountAndLatency()
    {
        var stats = CreateSut();
        stats.CorruptQueueMembers = 1;
        stats.CorruptCounters = 2;
        stats.CountWrongTypeKey("span-buf:mk:{1:t}:r");
        stats.FailedShards = 3;

        var snapshot = stats.ToSnapshot();

        Assert.Equal(
            new FlushStatsSnapshot(
                9, 7, 2, 6, 1, 4, 40, 3, 5, 8, 4, true, 3,
                TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(2), TimeSpan.FromMilliseconds(3),
                TimeSpan.FromMilliseconds(4), TimeSpan.FromMilliseconds(6), TimeSpan.FromMilliseconds(30)),
            snapshot);
    }

    [Fact]
    public void Publish_CorruptEntries_CountsEachKindAndLogsOneWarningWithAnExample()
    {
        using var corrupt = new MetricCollector<long>(_metrics.FlushCorruptEntries);
        var stats = CreateSut();
        stats.CorruptQueueMembers = 2;
        stats.CorruptCounters = 1;
        stats.NoteCorrupt("span-buf:q:0 member not-a-segment-key");
        stats.CountWrongTypeKey("span-buf:mk:{1:t}:r");
        stats.CountWrongTypeKey("span-buf:s:{1:t:x}:x");

        stats.Publish(_metrics, _logger);

        var byKind = corrupt.GetMeasurementSnapshot().ToDictionary(m => (string)m.Tags["kind"]!, m => m.Value);
        Assert.Equal(new Dictionary<string, long> { ["queue_member"] = 2, ["counter"] = 1, ["wrong_type"] = 2 }, byKind);
        var warning = Assert.Single(_logger.Collector.GetSnapshot(), r => r.Id.Id == 6);
        Assert.Equal("CorruptEntriesSkipped", warning.Id.Name);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal("5", warning.GetStructuredStateValue("CorruptCount"));
        Assert.Equal("span-buf:q:0 member not-a-segment-key", warning.GetStructuredStateValue("Example"));
        Assert.Equal(2, _logger.Collector.Count);
    }

    [Fact]
    public void NoteCorrupt_LongExample_KeepsTheFirstShortened()
    {
        var stats = new FlushStats(_time);

        stats.NoteCorrupt(new string('k', 500));
        stats.NoteCorrupt("second");

        Assert.Equal(new string('k', 200) + "…", stats.CorruptExample);
    }

    [Fact]
    public void Publish_NoCorruptEntries_LogsNoCorruptionWarning()
    {
        CreateSut().Publish(_metrics, _logger);

        Assert.DoesNotContain(_logger.Collector.GetSnapshot(), r => r.Id.Id == 6);
    }
}
