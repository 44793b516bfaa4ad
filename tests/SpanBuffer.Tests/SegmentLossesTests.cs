using Microsoft.Extensions.Time.Testing;
using SpanBuffer.Flush;
using SpanBuffer.Models;

namespace SpanBuffer.Tests;

public sealed class SegmentLossesTests
{
    private const long Now = 100_000;
    private static readonly LossSettings s_settings = new(RootTimeoutSeconds: 10, TtlSeconds: 3600);

    private readonly FlushStats _stats = new(new FakeTimeProvider());

    private static BuiltSegment Built(
        string root,
        long project = 1,
        int payloads = 0,
        long? ingestedCount = null,
        long? ingestedBytes = null,
        int invalidPayloads = 0)
    {
        var candidate = new FlushCandidate(0, "span-buf:q:0", $"span-buf:s:{{{project}:T}}:{root}", 10);
        var loaded = new LoadedSegment(
            candidate,
            [.. Enumerable.Range(0, payloads).Select(_ => (ReadOnlyMemory<byte>)"{}"u8.ToArray())],
            [],
            new SegmentIngestMetadata(ingestedCount, ingestedBytes));
        var flushed = new FlushedSegment(candidate, project, [], []);
        return new BuiltSegment(loaded, flushed, invalidPayloads);
    }

    private IReadOnlyList<SegmentLoss> Compute(IReadOnlyList<BuiltSegment> built, params (FlushCandidate, long?)[] deadlines) =>
        SegmentLosses.Compute(built, deadlines, Now, s_settings, _stats);

    [Fact]
    public void Compute_FewerPayloadsThanIngested_CountsDroppedSpans()
    {
        var losses = Compute([Built("r", payloads: 3, ingestedCount: 5)]);

        Assert.Equal([new SegmentLoss(1, 2, SegmentLossReason.Dropped)], losses);
        Assert.Equal(2, _stats.DroppedSpans);
    }

    [Fact]
    public void Compute_DroppedSpans_SummedPerProject()
    {
        var losses = Compute(
        [
            Built("r1", project: 1, payloads: 3, ingestedCount: 5),
            Built("r2", project: 2, payloads: 0, ingestedCount: 4),
            Built("r3", project: 1, payloads: 1, ingestedCount: 2),
        ]);

        Assert.Equal(
            [new SegmentLoss(1, 3, SegmentLossReason.Dropped), new SegmentLoss(2, 4, SegmentLossReason.Dropped)],
            losses.OrderBy(l => l.ProjectId));
        Assert.Equal(7, _stats.DroppedSpans);
    }

    [Theory]
    [InlineData(5, 5)]
    [InlineData(6, 5)]
    public void Compute_AsManyOrMorePayloadsThanIngested_NoLoss(int payloads, long ingested)
    {
        Assert.Empty(Compute([Built("r", payloads: payloads, ingestedCount: ingested)]));
        Assert.Equal(0, _stats.DroppedSpans);
    }

    [Fact]
    public void Compute_EmptySegmentOlderThanTtl_CountsExpiredBeforeFlush()
    {
        var segment = Built("r", project: 9);
        var deadline = Now - 3591; // (now - deadline) + root timeout = 3601 > 3600

        var losses = Compute([segment], (segment.Loaded.Candidate, deadline));

        Assert.Equal([new SegmentLoss(9, 1, SegmentLossReason.ExpiredBeforeFlush)], losses);
        Assert.Equal(1, _stats.ExpiredSegments);
    }

    [Theory]
    [InlineData(3590)] // estimated age exactly the TTL
    [InlineData(0)]
    [InlineData(-50)]
    public void Compute_EmptySegmentNotOlderThanTtl_IsNotExpired(long age)
    {
        var segment = Built("r");

        var losses = Compute([segment], (segment.Loaded.Candidate, Now - age));

        Assert.Empty(losses);
        Assert.Equal(0, _stats.ExpiredSegments);
    }

    [Fact]
    public void Compute_EmptySegmentWithNullDeadline_IsNotExpired()
    {
        var segment = Built("r");

        Assert.Empty(Compute([segment], (segment.Loaded.Candidate, null)));
        Assert.Equal(0, _stats.ExpiredSegments);
    }

    [Fact]
    public void Compute_EmptySegmentWithoutDeadlineEntry_IsNotExpired()
    {
        Assert.Empty(Compute([Built("r")]));
    }

    [Fact]
    public void Compute_EmptySegmentWithCounters_IsDroppedNotExpired()
    {
        var segment = Built("r", ingestedCount: 2);

        var losses = Compute([segment], (segment.Loaded.Candidate, 0));

        Assert.Equal([new SegmentLoss(1, 2, SegmentLossReason.Dropped)], losses);
        Assert.Equal(0, _stats.ExpiredSegments);
    }

    [Fact]
    public void Compute_InvalidPayloads_BecomeInvalidPayloadLosses()
    {
        var losses = Compute([Built("r", project: 4, payloads: 3, ingestedCount: 3, invalidPayloads: 2), Built("s", project: 4, payloads: 1, ingestedCount: 1, invalidPayloads: 1)]);

        Assert.Equal([new SegmentLoss(4, 3, SegmentLossReason.InvalidPayload)], losses);
        Assert.Equal(0, _stats.DroppedSpans);
    }

    [Fact]
    public void Compute_EmptySegments_CountsEverySegmentWithoutPayloads()
    {
        var expired = Built("a");
        Compute([expired, Built("b", ingestedCount: 3), Built("c", payloads: 1, ingestedCount: 1), Built("d")], (expired.Loaded.Candidate, 0));

        Assert.Equal(3, _stats.EmptySegments);
    }

    [Fact]
    public void Compute_IngestCounters_RecordedPerSegment()
    {
        Compute(
        [
            Built("a", payloads: 2, ingestedCount: 2, ingestedBytes: 120),
            Built("b", payloads: 1, ingestedCount: null, ingestedBytes: 40),
            Built("c", payloads: 1, ingestedCount: 1, ingestedBytes: null),
        ]);

        Assert.Equal([120L, 40L], _stats.IngestedBytesPerSegment);
        Assert.Equal([2L, 1L], _stats.IngestedSpansPerSegment);
    }

    [Fact]
    public void NeedingDeadline_OnlySegmentsWithoutDataAndCounters()
    {
        var noData = Built("a");
        var bytesOnly = Built("d", ingestedBytes: 10);
        var built = new[] { noData, Built("b", ingestedCount: 2), Built("c", payloads: 1), bytesOnly };

        var needing = SegmentLosses.NeedingDeadline(built);

        Assert.Equal([noData.Loaded.Candidate, bytesOnly.Loaded.Candidate], needing);
    }
}
