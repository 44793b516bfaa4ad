using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using SpanBuffer.Flush;
using SpanBuffer.Models;

namespace SpanBuffer.Tests;

public sealed class SegmentAssemblerTests
{
    private const string Root = "aaaaaaaaaaaaaaaa";
    private const string Child = "bbbbbbbbbbbbbbbb";
    private const string Salt = "3106330ede3673ae78e9b017358c794a";

    private readonly FlushStats _stats = new(new FakeTimeProvider());

    private static string Key(string root, long project = 1) => $"span-buf:s:{{{project}:T}}:{root}";

    private static string SpanJson(string spanId) => $"{{\"span_id\":\"{spanId}\"}}";

    private static LoadedSegment Loaded(string segmentKey, int shard = 0, params string[] payloads) => new(
        new FlushCandidate(shard, $"span-buf:q:{shard}", segmentKey, 10),
        [.. payloads.Select(p => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(p))],
        [$"span-buf:s:{{1:T:{Salt}}}:{Salt}"],
        new SegmentIngestMetadata(payloads.Length, null));

    private static string Text(OutputSpan span) => Encoding.UTF8.GetString(span.Json.Span);

    [Fact]
    public void Build_SegmentWithRootSpan_MarksOnlyTheRootAndSetsSegmentIds()
    {
        var loaded = Loaded(Key(Root), 0, SpanJson(Child), SpanJson(Root));

        var built = Assert.Single(SegmentAssembler.Build([loaded], 500, _stats));

        Assert.Same(loaded, built.Loaded);
        Assert.Equal(0, built.InvalidPayloads);
        var flushed = built.Flushed;
        Assert.Equal(1, flushed.ProjectId);
        Assert.Equal(Key(Root), flushed.SegmentKey);
        Assert.Equal("span-buf:q:0", flushed.QueueKey);
        Assert.Equal(loaded.PayloadKeys, flushed.PayloadKeys);
        Assert.True(flushed.HasRootSpan);
        Assert.Equal([(Child, false), (Root, true)], flushed.Spans.Select(s => (s.SpanId, s.IsSegment)));
        Assert.Equal(
            "{\"span_id\":\"" + Child + "\",\"attributes\":{\"sentry.segment.id\":{\"type\":\"string\",\"value\":\"" + Root + "\"}},\"is_segment\":false}",
            Text(flushed.Spans[0]));
        Assert.Equal(
            "{\"span_id\":\"" + Root + "\",\"attributes\":{\"sentry.segment.id\":{\"type\":\"string\",\"value\":\"" + Root + "\"}},\"is_segment\":true}",
            Text(flushed.Spans[1]));
        Assert.Equal(1, _stats.SegmentsWithRoot);
    }

    [Fact]
    public void Build_SegmentWithoutRootSpan_SetsIsSegmentFalse()
    {
        var built = Assert.Single(SegmentAssembler.Build([Loaded(Key(Root), 0, SpanJson(Child))], 500, _stats));

        Assert.False(built.Flushed.HasRootSpan);
        Assert.False(Assert.Single(built.Flushed.Spans).IsSegment);
        Assert.Equal(0, _stats.SegmentsWithRoot);
    }

    [Fact]
    public void Build_DetachedSegment_MarksNoSpanAndUsesSaltAsSegmentId()
    {
        var loaded = Loaded(Key(Salt), 0, SpanJson(Root), SpanJson(Child));

        var flushed = Assert.Single(SegmentAssembler.Build([loaded], 500, _stats)).Flushed;

        Assert.False(flushed.HasRootSpan);
        Assert.All(flushed.Spans, s => Assert.False(s.IsSegment));
        Assert.All(flushed.Spans, s => Assert.Contains("\"sentry.segment.id\":{\"type\":\"string\",\"value\":\"" + Salt + "\"}", Text(s), StringComparison.Ordinal));
        Assert.All(flushed.Spans, s => Assert.EndsWith(",\"is_segment\":false}", Text(s), StringComparison.Ordinal));
    }

    [Fact]
    public void Build_EmptySegment_IsKeptWithZeroSpans()
    {
        var loaded = Loaded(Key(Root, 7), 2);

        var built = Assert.Single(SegmentAssembler.Build([loaded], 500, _stats));

        Assert.Empty(built.Flushed.Spans);
        Assert.Equal(7, built.Flushed.ProjectId);
        Assert.Equal(loaded.PayloadKeys, built.Flushed.PayloadKeys);
        Assert.Equal(loaded.Candidate, built.Flushed.Candidate);
        Assert.Equal([0], _stats.SpansPerSegment);
    }

    [Fact]
    public void Build_InvalidPayload_IsDroppedAndCountedWithoutAffectingOthers()
    {
        var bad = Loaded(Key(Root), 0, SpanJson(Child), "not json", "[1,2]", SpanJson(Root));
        var good = Loaded(Key(Child), 1, SpanJson(Child));

        var built = SegmentAssembler.Build([bad, good], 500, _stats);

        Assert.Equal(2, built[0].InvalidPayloads);
        Assert.Equal([Child, Root], built[0].Flushed.Spans.Select(s => s.SpanId));
        Assert.Equal(0, built[1].InvalidPayloads);
        Assert.True(Assert.Single(built[1].Flushed.Spans).IsSegment);
        Assert.Equal(2, _stats.InvalidPayloads);
        Assert.Equal(3, _stats.SpansFlushed);
        Assert.Equal([2, 1], _stats.SpansPerSegment);
        Assert.Equal(2, _stats.SegmentsWithRoot);
    }

    [Fact]
    public void Build_SeveralSegments_CountsCandidatesPerShard()
    {
        SegmentAssembler.Build([Loaded(Key(Root), 3), Loaded(Key(Child), 3), Loaded(Key(Salt), 5)], 500, _stats);

        Assert.Equal(new Dictionary<int, int> { [3] = 2, [5] = 1 }, _stats.CandidatesPerShard);
    }

    [Theory]
    [InlineData(2, 1, false)]
    [InlineData(2, 2, true)]
    [InlineData(2, 3, true)]
    [InlineData(1, 1, true)]
    [InlineData(1, 0, false)]
    public void Build_AnyShardAtLimit_ComparesOneSegmentsPayloadCountWithTheCap(int maxSegmentsPerShard, int payloads, bool expected)
    {
        var segments = new[] { Loaded(Key(Root), 0, [.. Enumerable.Repeat(SpanJson(Child), payloads)]), Loaded(Key(Child), 0) };

        SegmentAssembler.Build(segments, maxSegmentsPerShard, _stats);

        Assert.Equal(expected, _stats.AnyShardAtLimit);
    }

    [Fact]
    public void Build_AnyShardAtLimit_CountsInvalidPayloadsToo()
    {
        SegmentAssembler.Build([Loaded(Key(Root), 0, SpanJson(Child), "oops")], 2, _stats);

        Assert.True(_stats.AnyShardAtLimit);
    }

    [Fact]
    public void Build_ManyPayloadsWithLargeEnrichment_SlicesEverySpanCorrectly()
    {
        // Compact, short payloads that each gain more than their own size: the output buffer has to grow.
        var payloads = Enumerable.Range(0, 200).Select(i => $"{{\"span_id\":\"{i:x16}\"}}").ToArray();

        var flushed = Assert.Single(SegmentAssembler.Build([Loaded(Key(Salt), 0, payloads)], 500, _stats)).Flushed;

        Assert.Equal(200, flushed.Spans.Count);
        for (var i = 0; i < payloads.Length; i++)
        {
            Assert.Equal($"{i:x16}", flushed.Spans[i].SpanId);
            Assert.Equal(
                $"{{\"span_id\":\"{i:x16}\",\"attributes\":{{\"sentry.segment.id\":{{\"type\":\"string\",\"value\":\"{Salt}\"}}}},\"is_segment\":false}}",
                Text(flushed.Spans[i]));
        }
    }

    [Fact]
    public void BuildOne_ValidAndInvalidPayloads_LaysTheSpansOutBackToBackInOneExactlySizedArray()
    {
        var loaded = Loaded(Key(Root), 0, SpanJson(Child), "not json", "{ \"span_id\" : \"" + Root + "\" ,\n \"is_segment\": false }", "{\"x\":01}", "{}");

        var built = SegmentAssembler.BuildOne(loaded);

        Assert.Equal(2, built.InvalidPayloads);
        var spans = built.Flushed.Spans;
        Assert.Equal([Child, Root, string.Empty], spans.Select(s => s.SpanId));
        byte[]? buffer = null;
        var offset = 0;
        foreach (var span in spans)
        {
            Assert.True(MemoryMarshal.TryGetArray(span.Json, out var slice));
            buffer ??= slice.Array;
            Assert.Same(buffer, slice.Array);
            Assert.Equal(offset, slice.Offset);
            offset += slice.Count;
        }

        Assert.Equal(buffer!.Length, offset);
        Assert.Equal("{\"span_id\":\"" + Root + "\",\"is_segment\":true,\"attributes\":{\"sentry.segment.id\":{\"type\":\"string\",\"value\":\"" + Root + "\"}}}", Text(spans[1]));
    }

    [Fact]
    public void BuildOne_OnlyInvalidPayloads_GivesNoSpans()
    {
        var built = SegmentAssembler.BuildOne(Loaded(Key(Root), 0, "[]", "{"));

        Assert.Equal(2, built.InvalidPayloads);
        Assert.Empty(built.Flushed.Spans);
    }

    [Fact]
    public void Distinct_DuplicatedSegmentKey_KeepsLastAtFirstPosition()
    {
        var built = SegmentAssembler.Build(
            [Loaded(Key(Root), 0, SpanJson(Child)), Loaded(Key(Child), 0), Loaded(Key(Root), 1, SpanJson(Root), SpanJson(Child))],
            500,
            _stats);

        var distinct = SegmentAssembler.Distinct(built);

        Assert.Equal(2, distinct.Count);
        Assert.Same(built[2].Flushed, distinct[0]);
        Assert.Same(built[1].Flushed, distinct[1]);
        Assert.Equal(2, distinct[0].Spans.Count);
    }

    [Fact]
    public void Distinct_NoDuplicates_KeepsOrder()
    {
        var built = SegmentAssembler.Build([Loaded(Key(Child)), Loaded(Key(Root)), Loaded(Key(Salt))], 500, _stats);

        Assert.Equal(built.Select(b => b.Flushed), SegmentAssembler.Distinct(built));
    }

    [Fact]
    public void LastPerSegmentKey_KeyQueuedInTwoShards_KeepsLastEntryAtFirstPosition()
    {
        var first = new FlushCandidate(0, "span-buf:q:0", Key(Root), 10);
        var other = new FlushCandidate(0, "span-buf:q:0", Key(Child), 11);
        var last = new FlushCandidate(1, "span-buf:q:1", Key(Root), 12);

        var candidates = SegmentAssembler.LastPerSegmentKey([first, other, last]);

        Assert.Equal([last, other], candidates);
    }

    [Fact]
    public void LastPerSegmentKey_NoDuplicates_ReturnsTheInput()
    {
        FlushCandidate[] candidates = [new(0, "span-buf:q:0", Key(Root), 10), new(1, "span-buf:q:1", Key(Child), 10)];

        Assert.Same(candidates, SegmentAssembler.LastPerSegmentKey(candidates));
    }
}
