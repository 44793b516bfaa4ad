using System.Text;
using SpanBuffer.Models;

namespace SpanBuffer.Tests;

public sealed class FlushedSegmentTests
{
    private static readonly FlushCandidate s_candidate = new(0, "span-buf:q:0", "span-buf:s:{1:T}:root", 10);

    /// <summary>A span whose JSON (a string literal, enough for sizing) is exactly <paramref name="length"/> bytes.</summary>
    private static OutputSpan SpanOfLength(int length, string id)
    {
        var json = "\"" + id + new string('x', length - id.Length - 2) + "\"";
        Assert.Equal(length, json.Length);
        return new OutputSpan(Encoding.UTF8.GetBytes(json), id, false);
    }

    private static FlushedSegment Segment(IReadOnlyList<OutputSpan> spans) => new(s_candidate, 1, spans, ["payload-key"]);

    private static FlushedSegment Segment(params int[] lengths) =>
        Segment(lengths.Select((length, i) => SpanOfLength(length, i.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToArray());

    private static string Ids(SegmentMessage message) => string.Join(",", message.Spans.Select(s => s.SpanId));

    [Fact]
    public void ToMessages_TotalBelowMax_OneMessageWithoutSkipEnrichment()
    {
        var message = Assert.Single(Segment(20, 20, 20).ToMessages(100));

        Assert.False(message.SkipEnrichment);
        Assert.Equal("0,1,2", Ids(message));
        Assert.Equal(1, message.ProjectId);
    }

    [Fact]
    public void ToMessages_TotalExactlyMax_StillOneMessage()
    {
        var message = Assert.Single(Segment(20, 20, 20).ToMessages(60));

        Assert.False(message.SkipEnrichment);
        Assert.Equal(3, message.Spans.Count);
    }

    [Fact]
    public void ToMessages_TotalOneAboveMax_GreedyChunksWithSkipEnrichment()
    {
        var messages = Segment(20, 20, 21).ToMessages(60);

        Assert.Equal(["0,1", "2"], messages.Select(Ids));
        Assert.All(messages, m => Assert.True(m.SkipEnrichment));
    }

    [Fact]
    public void ToMessages_Oversized_FillsEachChunkUpToMax()
    {
        var messages = Segment(10, 10, 10, 10, 10, 25, 5).ToMessages(30);

        Assert.Equal(["0,1,2", "3,4", "5,6"], messages.Select(Ids));
    }

    [Fact]
    public void ToMessages_SpanLargerThanMax_FormsItsOwnChunk()
    {
        var messages = Segment(10, 50, 10).ToMessages(20);

        Assert.Equal(["0", "1", "2"], messages.Select(Ids));
        Assert.All(messages, m => Assert.True(m.SkipEnrichment));
    }

    [Fact]
    public void ToMessages_SingleSpanLargerThanMax_OneChunkStillMarkedSkipEnrichment()
    {
        var message = Assert.Single(Segment(50).ToMessages(20));

        Assert.True(message.SkipEnrichment);
        Assert.Equal("0", Ids(message));
    }

    [Fact]
    public void ToMessages_SpansInAList_ChunksLikeAnArray()
    {
        var spans = new List<OutputSpan> { SpanOfLength(10, "a"), SpanOfLength(10, "b"), SpanOfLength(10, "c") };

        var messages = Segment(spans).ToMessages(25);

        Assert.Equal(["a,b", "c"], messages.Select(Ids));
    }

    [Fact]
    public void ToMessages_NoSpans_GivesNoMessages()
    {
        Assert.Empty(Segment(Array.Empty<OutputSpan>()).ToMessages(100));
    }

    [Fact]
    public void ToMessages_FlushIds_Are32LowercaseHexAndFreshPerMessageAndCall()
    {
        var segment = Segment(10, 10, 10);

        var first = segment.ToMessages(15);
        var second = segment.ToMessages(15);
        var ids = first.Concat(second).Select(m => m.FlushId).ToList();

        Assert.Equal(6, ids.Count);
        Assert.All(ids, id => Assert.Matches("^[0-9a-f]{32}$", id));
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.NotEqual(Assert.Single(segment.ToMessages(100)).FlushId, Assert.Single(segment.ToMessages(100)).FlushId);
    }

    [Fact]
    public void HasRootSpan_AnySpanMarked_IsTrue()
    {
        var spans = new[] { SpanOfLength(10, "a"), new OutputSpan("{}"u8.ToArray(), "b", true) };

        Assert.True(Segment(spans).HasRootSpan);
        Assert.False(Segment(10, 10).HasRootSpan);
    }

    [Fact]
    public void Properties_ComeFromTheCandidate()
    {
        var segment = Segment(10);

        Assert.Equal("span-buf:s:{1:T}:root", segment.SegmentKey);
        Assert.Equal("span-buf:q:0", segment.QueueKey);
    }
}
