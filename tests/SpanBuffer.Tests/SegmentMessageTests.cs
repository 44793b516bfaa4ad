using System.Buffers;
using System.Text;
using System.Text.Json;
using SpanBuffer.Models;

namespace SpanBuffer.Tests;

public sealed class SegmentMessageTests
{
    private const string SpanA = "{\"span_id\":\"a\",\"n\":1.50e+3,\"s\":\"caf\\u00e9\"}";
    private const string SpanB = "{\"span_id\":\"b\",\"is_segment\":true}";

    private static readonly FlushCandidate s_candidate = new(0, "span-buf:q:0", "span-buf:s:{1:T}:root", 10);

    private static SegmentMessage CreateSut(long maxBytes = 1000)
    {
        var spans = new[]
        {
            new OutputSpan(Encoding.UTF8.GetBytes(SpanA), "a", false),
            new OutputSpan(Encoding.UTF8.GetBytes(SpanB), "b", true),
        };
        return Assert.Single(new FlushedSegment(s_candidate, 1, spans, []).ToMessages(maxBytes));
    }

    [Fact]
    public void ToArray_WholeSegment_WritesFlushIdThenSpansVerbatim()
    {
        var message = CreateSut();

        var json = Encoding.UTF8.GetString(message.ToArray());

        Assert.Equal("{\"flush_id\":\"" + message.FlushId + "\",\"spans\":[" + SpanA + "," + SpanB + "]}", json);
    }

    [Fact]
    public void ToArray_Chunk_AddsSkipEnrichmentLast()
    {
        var messages = new FlushedSegment(s_candidate, 1, [new OutputSpan(Encoding.UTF8.GetBytes(SpanA), "a", false)], []).ToMessages(5);
        var message = Assert.Single(messages);

        var json = Encoding.UTF8.GetString(message.ToArray());

        Assert.Equal("{\"flush_id\":\"" + message.FlushId + "\",\"spans\":[" + SpanA + "],\"skip_enrichment\":true}", json);
    }

    [Fact]
    public void WriteTo_Output_ParsesWithKeysInOrderAndSpansByteForByte()
    {
        var message = CreateSut();
        var buffer = new ArrayBufferWriter<byte>();

        message.WriteTo(buffer);

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        var properties = document.RootElement.EnumerateObject().ToList();
        Assert.Equal(["flush_id", "spans"], properties.Select(p => p.Name));
        Assert.Equal(message.FlushId, properties[0].Value.GetString());
        Assert.Equal([SpanA, SpanB], properties[1].Value.EnumerateArray().Select(e => e.GetRawText()));
    }

    [Fact]
    public void WriteTo_ChunkedMessages_EachHasSkipEnrichmentAsThirdKey()
    {
        var spans = new[]
        {
            new OutputSpan(Encoding.UTF8.GetBytes(SpanA), "a", false),
            new OutputSpan(Encoding.UTF8.GetBytes(SpanB), "b", true),
        };
        var messages = new FlushedSegment(s_candidate, 1, spans, []).ToMessages(SpanA.Length);

        Assert.Equal(2, messages.Count);
        foreach (var message in messages)
        {
            using var document = JsonDocument.Parse(message.ToArray());
            var properties = document.RootElement.EnumerateObject().ToList();
            Assert.Equal(["flush_id", "spans", "skip_enrichment"], properties.Select(p => p.Name));
            Assert.Equal(JsonValueKind.True, properties[2].Value.ValueKind);
            Assert.Single(properties[1].Value.EnumerateArray());
        }
    }

    [Fact]
    public void Length_EqualsTheWrittenByteCount()
    {
        var whole = CreateSut();
        var buffer = new ArrayBufferWriter<byte>();

        whole.WriteTo(buffer);

        Assert.Equal(buffer.WrittenCount, whole.Length);
        Assert.Equal(whole.ToArray().Length, whole.Length);
    }

    [Fact]
    public void Length_ChunkedMessage_EqualsTheWrittenByteCount()
    {
        var message = new FlushedSegment(s_candidate, 1, [new OutputSpan(Encoding.UTF8.GetBytes(SpanA), "a", false)], []).ToMessages(1)[0];

        Assert.True(message.SkipEnrichment);
        Assert.Equal(message.ToArray().Length, message.Length);
    }

    [Fact]
    public void WriteTo_WriterWithContent_Appends()
    {
        var message = CreateSut();
        var buffer = new ArrayBufferWriter<byte>();
        buffer.Write("x"u8);

        message.WriteTo(buffer);

        Assert.Equal(1 + message.Length, buffer.WrittenCount);
        Assert.Equal("x" + Encoding.UTF8.GetString(message.ToArray()), Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    [Fact]
    public void WriteTo_NullWriter_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => CreateSut().WriteTo(null!));
    }

    [Fact]
    public void Spans_AreTheSegmentsOutputSpans()
    {
        var message = CreateSut();

        Assert.Equal(["a", "b"], message.Spans.Select(s => s.SpanId));
        Assert.False(message.SkipEnrichment);
        Assert.Equal(1, message.ProjectId);
    }
}
