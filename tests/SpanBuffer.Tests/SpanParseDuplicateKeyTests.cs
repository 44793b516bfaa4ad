using System.Text;
using SpanBuffer.Models;

namespace SpanBuffer.Tests;

/// <summary>Span.Parse with keys given more than once: the last occurrence counts, as for a dictionary-building decoder and the flush.</summary>
public sealed class SpanParseDuplicateKeyTests
{
    private const string Required =
        "\"trace_id\":\"0123456789abcdef0123456789abcdef\",\"span_id\":\"aaaaaaaaaaaaaaaa\",\"parent_span_id\":\"bbbbbbbbbbbbbbbb\","
        + "\"project_id\":42,\"organization_id\":7,\"retention_days\":90,\"received\":1,\"start_timestamp\":1,\"end_timestamp\":2,\"status\":\"ok\"";

    private static Span Parse(string attributes) => Span.Parse(Encoding.UTF8.GetBytes("{" + Required + ",\"attributes\":" + attributes + "}"));

    [Theory]
    [InlineData("1")]
    [InlineData("null")]
    [InlineData("\"cccccccccccccccc\"")]
    [InlineData("[]")]
    public void Parse_SegmentIdAttributeRepeatedAsANonObject_HasNoSegmentId(string last)
    {
        var span = Parse("{\"sentry.segment.id\":{\"type\":\"string\",\"value\":\"cccccccccccccccc\"},\"sentry.segment.id\":" + last + "}");

        Assert.Null(span.SegmentId);
    }

    [Fact]
    public void Parse_SegmentIdAttributeRepeated_TheLastCounts()
    {
        var span = Parse("{\"sentry.segment.id\":{\"value\":\"cccccccccccccccc\"},\"sentry.segment.id\":{\"value\":\"dddddddddddddddd\"}}");

        Assert.Equal("dddddddddddddddd", span.SegmentId);
    }

    [Fact]
    public void Parse_AttributesRepeatedAsANonObject_HasNoSegmentId()
    {
        var span = Span.Parse(Encoding.UTF8.GetBytes("{" + Required + ",\"attributes\":{\"sentry.segment.id\":{\"value\":\"cccccccccccccccc\"}},\"attributes\":[]}"));

        Assert.Null(span.SegmentId);
    }
}
