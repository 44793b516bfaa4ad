using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Testing;
using SpanBuffer.Diagnostics;
using SpanBuffer.Flush;
using SpanBuffer.Models;
using SpanBuffer.Redis;

namespace SpanBuffer.Tests;

/// <summary>Losses become final at cleanup, once, and only for the segments whose data the cleanup removed.</summary>
public sealed class FinalLossesTests : IDisposable
{
    private readonly TestMeterFactory _meterFactory = new();
    private readonly SpanBufferMetrics _metrics;
    private readonly FakeLogger _logger = new();

    public FinalLossesTests()
    {
        _metrics = new SpanBufferMetrics(_meterFactory);
    }

    public void Dispose()
    {
        _metrics.Dispose();
        _meterFactory.Dispose();
    }

    private static FlushedSegment Segment(string root, long project, params SegmentLoss[] losses)
    {
        var candidate = new FlushCandidate(0, "span-buf:q:0", $"span-buf:s:{{{project}:T}}:{root}", 10);
        return new FlushedSegment(candidate, project, [], []) { Losses = losses };
    }

    [Fact]
    public void Final_SegmentCleanedElsewhere_LeavesItsLossesToThatCleanup()
    {
        var mine = Segment("a", 1, new SegmentLoss(1, 2, SegmentLossReason.Dropped));
        var theirs = Segment("b", 1, new SegmentLoss(1, 7, SegmentLossReason.Dropped));
        var requeued = Segment("c", 2, new SegmentLoss(2, 1, SegmentLossReason.InvalidPayload));

        var result = SegmentLosses.Final(
        [
            new SegmentCleanup(mine, SegmentCleanupState.Emptied, RemovedItsData: true),
            new SegmentCleanup(theirs, SegmentCleanupState.Emptied, RemovedItsData: false),
            new SegmentCleanup(requeued, SegmentCleanupState.DataRemains, RemovedItsData: true),
        ]);

        Assert.Equal(3, result.Segments);
        Assert.Equal(1, result.Requeued);
        Assert.Equal(1, result.CleanedElsewhere);
        Assert.Equal(
            [new SegmentLoss(1, 2, SegmentLossReason.Dropped), new SegmentLoss(2, 1, SegmentLossReason.InvalidPayload)],
            result.Losses.OrderBy(l => l.ProjectId));
    }

    [Fact]
    public void Publish_FinalLosses_RecordsEachReasonOnceAndLogs()
    {
        using var lost = new MetricCollector<long>(_metrics.FlushLostSpans);
        using var expired = new MetricCollector<long>(_metrics.FlushExpiredSegments);
        var result = new CleanupResult(
            4,
            0,
            0,
            [
                new SegmentLoss(1, 3, SegmentLossReason.Dropped),
                new SegmentLoss(2, 4, SegmentLossReason.Dropped),
                new SegmentLoss(1, 5, SegmentLossReason.InvalidPayload),
                new SegmentLoss(1, 6, SegmentLossReason.DeliveryFailed),
                new SegmentLoss(1, 2, SegmentLossReason.ExpiredBeforeFlush),
            ]);

        SegmentLosses.Publish(result, _metrics, _logger);

        long Tagged(string reason) => Assert.Single(lost.GetMeasurementSnapshot(), m => Equals(m.Tags["reason"], reason)).Value;
        Assert.Equal(7, Tagged("dropped"));
        Assert.Equal(5, Tagged("invalid_payload"));
        Assert.Equal(6, Tagged("delivery_failed"));
        Assert.Equal(2, Assert.Single(expired.GetMeasurementSnapshot()).Value);
        Assert.Equal("LossesFinal", _logger.LatestRecord.Id.Name);
    }
}
