using System.Buffers;
using System.Text;
using SpanBuffer.Flush;

namespace SpanBuffer.Tests;

public sealed class SpanEnricherTests
{
    private const string Root = "aaaaaaaaaaaaaaaa";
    private const string Child = "bbbbbbbbbbbbbbbb";
    private const string SegmentIdValue = "{\"type\":\"string\",\"value\":\"" + Root + "\"}";

    private static (bool Ok, string Output, string SpanId, bool IsSegment) Enrich(string json, string root = Root)
    {
        var output = new ArrayBufferWriter<byte>();
        var ok = SpanEnricher.TryEnrich(Encoding.UTF8.GetBytes(json), new SegmentIdentity(root), output, out var spanId, out var isSegment);
        return (ok, Encoding.UTF8.GetString(output.WrittenSpan), spanId, isSegment);
    }

    private static string EnrichOk(string json, string root = Root)
    {
        var (ok, output, _, _) = Enrich(json, root);
        Assert.True(ok, "enrichment rejected " + json);
        return output;
    }

    [Fact]
    public void SegmentIdentity_RootId_EncodesTheAttributeObjectOnce()
    {
        var identity = new SegmentIdentity(Root);

        Assert.Equal(Root, identity.SpanId);
        Assert.Equal(SegmentIdValue, Encoding.UTF8.GetString(identity.AttributeValue.Span));
    }

    [Fact]
    public void TryEnrich_UnknownFields_AreCopiedByteForByte()
    {
        const string json = "{\"span_id\":\"" + Child + "\",\"n\":1.50e+3,\"neg\":-0.0E-7,\"big\":12345678901234567890123,"
            + "\"s\":\"caf\\u00e9 \\\"q\\\" \\\\ \\/ \\n\",\"u\":\"日本\",\"nested\":{\"a\":[1,{\"b\":null},true]},"
            + "\"is_segment\":false,\"attributes\":{\"sentry.segment.id\":{\"type\":\"string\",\"value\":\"zzz\"}}}";

        var (ok, output, spanId, isSegment) = Enrich(json);

        Assert.True(ok);
        Assert.Equal(json, output);
        Assert.Equal(Child, spanId);
        Assert.False(isSegment);
    }

    [Fact]
    public void TryEnrich_RootSpanWithIsSegmentFalse_OverwritesInPlaceWithTrue()
    {
        var output = EnrichOk("{\"span_id\":\"" + Root + "\",\"is_segment\":false,\"x\":1,\"attributes\":{}}");

        Assert.Equal("{\"span_id\":\"" + Root + "\",\"is_segment\":true,\"x\":1,\"attributes\":{\"sentry.segment.id\":" + SegmentIdValue + "}}", output);
    }

    [Theory]
    [InlineData("true")]
    [InlineData("null")]
    [InlineData("\"yes\"")]
    [InlineData("1")]
    public void TryEnrich_ChildWithIsSegmentValue_OverwritesInPlaceWithFalse(string value)
    {
        var (ok, output, spanId, isSegment) = Enrich("{\"is_segment\":" + value + ",\"span_id\":\"" + Child + "\",\"x\":1}");

        Assert.True(ok);
        Assert.Equal("{\"is_segment\":false,\"span_id\":\"" + Child + "\",\"x\":1,\"attributes\":{\"sentry.segment.id\":" + SegmentIdValue + "}}", output);
        Assert.Equal(Child, spanId);
        Assert.False(isSegment);
    }

    [Fact]
    public void TryEnrich_MissingIsSegment_AppendedAtTheEnd()
    {
        var output = EnrichOk("{\"span_id\":\"" + Root + "\",\"attributes\":{\"sentry.segment.id\":{\"type\":\"string\",\"value\":\"zzz\"}},\"x\":1}");

        Assert.Equal("{\"span_id\":\"" + Root + "\",\"attributes\":{\"sentry.segment.id\":{\"type\":\"string\",\"value\":\"zzz\"}},\"x\":1,\"is_segment\":true}", output);
    }

    [Fact]
    public void TryEnrich_RootSpan_ReportsSpanIdAndIsSegment()
    {
        var (ok, _, spanId, isSegment) = Enrich("{\"span_id\":\"" + Root + "\"}");

        Assert.True(ok);
        Assert.Equal(Root, spanId);
        Assert.True(isSegment);
    }

    [Theory]
    [InlineData("{\"type\":\"string\",\"value\":\"zzz\"}")]
    [InlineData("{\"value\":\"0\",\"type\":\"string\"}")]
    [InlineData("{\"type\":\"integer\",\"value\":5}")]
    [InlineData("{\"type\":\"boolean\",\"value\":true}")]
    [InlineData("{\"type\":\"array\",\"value\":[0]}")]
    [InlineData("{\"value\":{\"k\":null},\"meta\":{\"value\":\"\"}}")]
    public void TryEnrich_TruthySegmentId_KeptUnchanged(string attribute)
    {
        var json = "{\"span_id\":\"" + Child + "\",\"attributes\":{\"a\":1,\"sentry.segment.id\":" + attribute + ",\"z\":2},\"is_segment\":false}";

        Assert.Equal(json, EnrichOk(json));
    }

    [Theory]
    [InlineData("{\"type\":\"string\",\"value\":\"\"}")]
    [InlineData("{\"type\":\"string\",\"value\":null}")]
    [InlineData("{\"type\":\"integer\",\"value\":0}")]
    [InlineData("{\"type\":\"double\",\"value\":0.0}")]
    [InlineData("{\"type\":\"boolean\",\"value\":false}")]
    [InlineData("{\"type\":\"string\"}")]
    [InlineData("{\"type\":\"array\",\"value\":[]}")]
    [InlineData("{\"type\":\"object\",\"value\":{ }}")]
    [InlineData("{\"meta\":{\"value\":\"x\"},\"value\":\"\"}")]
    [InlineData("{}")]
    [InlineData("null")]
    [InlineData("\"aaaa\"")]
    public void TryEnrich_FalsySegmentId_ReplacedInPlace(string attribute)
    {
        var output = EnrichOk("{\"span_id\":\"" + Child + "\",\"attributes\":{\"a\":1,\"sentry.segment.id\":" + attribute + ",\"z\":2},\"is_segment\":false}");

        Assert.Equal("{\"span_id\":\"" + Child + "\",\"attributes\":{\"a\":1,\"sentry.segment.id\":" + SegmentIdValue + ",\"z\":2},\"is_segment\":false}", output);
    }

    [Theory]
    [InlineData("null")]
    [InlineData("\"text\"")]
    [InlineData("[1,2]")]
    [InlineData("[]")]
    [InlineData("42")]
    public void TryEnrich_AttributesNotAnObject_ReplacedInPlace(string attributes)
    {
        var output = EnrichOk("{\"span_id\":\"" + Child + "\",\"attributes\":" + attributes + ",\"is_segment\":false}");

        Assert.Equal("{\"span_id\":\"" + Child + "\",\"attributes\":{\"sentry.segment.id\":" + SegmentIdValue + "},\"is_segment\":false}", output);
    }

    [Fact]
    public void TryEnrich_AttributesMissing_AddedBeforeTheAppendedIsSegment()
    {
        var output = EnrichOk("{\"span_id\":\"" + Child + "\",\"x\":1}");

        Assert.Equal("{\"span_id\":\"" + Child + "\",\"x\":1,\"attributes\":{\"sentry.segment.id\":" + SegmentIdValue + "},\"is_segment\":false}", output);
    }

    [Fact]
    public void TryEnrich_AttributesMissingButIsSegmentPresent_AppendsOnlyAttributes()
    {
        var output = EnrichOk("{\"is_segment\":true,\"span_id\":\"" + Child + "\"}");

        Assert.Equal("{\"is_segment\":false,\"span_id\":\"" + Child + "\",\"attributes\":{\"sentry.segment.id\":" + SegmentIdValue + "}}", output);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{ }")]
    [InlineData("{\n}")]
    public void TryEnrich_EmptyAttributesObject_AddsAttributeWithoutLeadingComma(string attributes)
    {
        var output = EnrichOk("{\"span_id\":\"" + Child + "\",\"attributes\":" + attributes + ",\"is_segment\":false}");

        Assert.Equal("{\"span_id\":\"" + Child + "\",\"attributes\":{\"sentry.segment.id\":" + SegmentIdValue + "},\"is_segment\":false}", output);
    }

    [Fact]
    public void TryEnrich_AttributesWithOtherKeys_AppendsAttributeAfterThem()
    {
        var output = EnrichOk("{\"span_id\":\"" + Child + "\",\"attributes\":{\"k\":{\"type\":\"string\",\"value\":\"v\"}},\"is_segment\":false}");

        Assert.Equal("{\"span_id\":\"" + Child + "\",\"attributes\":{\"k\":{\"type\":\"string\",\"value\":\"v\"},\"sentry.segment.id\":" + SegmentIdValue + "},\"is_segment\":false}", output);
    }

    [Fact]
    public void TryEnrich_EmptyObject_GetsAttributesAndIsSegment()
    {
        var (ok, output, spanId, isSegment) = Enrich("{}");

        Assert.True(ok);
        Assert.Equal("{\"attributes\":{\"sentry.segment.id\":" + SegmentIdValue + "},\"is_segment\":false}", output);
        Assert.Equal(string.Empty, spanId);
        Assert.False(isSegment);
    }

    [Fact]
    public void TryEnrich_PrettyPrintedInput_GivesCompactOutputKeepingWhitespaceInStrings()
    {
        const string json = "{\n  \"span_id\" : \"" + Child + "\",\r\n\t\"name\" : \"a  b \\t c \\\" d\",\n  \"list\" : [ 1 , 2.5 , \" x \" ],\n"
            + "  \"attributes\" : {\n    \"k\" : { \"type\" : \"string\" , \"value\" : \" v \" }\n  },\n  \"is_segment\" : true\n}\n";

        var output = EnrichOk(json);

        Assert.Equal(
            "{\"span_id\":\"" + Child + "\",\"name\":\"a  b \\t c \\\" d\",\"list\":[1,2.5,\" x \"],"
            + "\"attributes\":{\"k\":{\"type\":\"string\",\"value\":\" v \"},\"sentry.segment.id\":" + SegmentIdValue + "},\"is_segment\":false}",
            output);
    }

    [Fact]
    public void TryEnrich_NestedIsSegmentAndSpanId_AreNotTouched()
    {
        var (ok, output, spanId, _) = Enrich("{\"span_id\":\"" + Child + "\",\"data\":{\"is_segment\":true,\"span_id\":\"" + Root + "\",\"attributes\":null}}");

        Assert.True(ok);
        Assert.Equal(
            "{\"span_id\":\"" + Child + "\",\"data\":{\"is_segment\":true,\"span_id\":\"" + Root + "\",\"attributes\":null},"
            + "\"attributes\":{\"sentry.segment.id\":" + SegmentIdValue + "},\"is_segment\":false}",
            output);
        Assert.Equal(Child, spanId);
    }

    [Fact]
    public void TryEnrich_DetachedSegmentSalt_MarksNoSpanAndUsesSaltAsSegmentId()
    {
        const string salt = "3106330ede3673ae78e9b017358c794a";

        var (ok, output, _, isSegment) = Enrich("{\"span_id\":\"" + Root + "\",\"is_segment\":true}", salt);

        Assert.True(ok);
        Assert.False(isSegment);
        Assert.Equal("{\"span_id\":\"" + Root + "\",\"is_segment\":false,\"attributes\":{\"sentry.segment.id\":{\"type\":\"string\",\"value\":\"" + salt + "\"}}}", output);
    }

    [Fact]
    public void TryEnrich_OutputAfterExistingContent_AppendsToTheWriter()
    {
        var output = new ArrayBufferWriter<byte>();
        output.Write("prefix|"u8);

        Assert.True(SpanEnricher.TryEnrich("{\"span_id\":\"x\",\"is_segment\":true}"u8, new SegmentIdentity("x"), output, out _, out _));

        Assert.Equal(
            "prefix|{\"span_id\":\"x\",\"is_segment\":true,\"attributes\":{\"sentry.segment.id\":{\"type\":\"string\",\"value\":\"x\"}}}",
            Encoding.UTF8.GetString(output.WrittenSpan));
    }

    [Fact]
    public void TryEnrich_WhitespaceOnlyObject_GetsAttributesAndIsSegmentWithoutLeadingComma()
    {
        Assert.Equal("{\"attributes\":{\"sentry.segment.id\":" + SegmentIdValue + "},\"is_segment\":false}", EnrichOk("{ \n }"));
    }

    [Fact]
    public void TryEnrich_TrailingWhitespace_IsDropped()
    {
        Assert.Equal("{\"span_id\":\"" + Root + "\",\"is_segment\":true,\"attributes\":{\"sentry.segment.id\":" + SegmentIdValue + "}}", EnrichOk("{\"span_id\":\"" + Root + "\",\"is_segment\":false}\n  "));
    }

    [Theory]
    [InlineData("{\"span_id\":\"x\"} garbage")]
    [InlineData("{\"span_id\":\"x\"}}")]
    [InlineData("{\"span_id\":\"x\"}{\"span_id\":\"y\"}")]
    public void TryEnrich_TrailingContentAfterTheObject_ReturnsFalseAndWritesNothing(string json)
    {
        var output = new ArrayBufferWriter<byte>();

        var ok = SpanEnricher.TryEnrich(Encoding.UTF8.GetBytes(json), new SegmentIdentity(Root), output, out _, out _);

        Assert.False(ok, "invalid JSON accepted; wrote " + Encoding.UTF8.GetString(output.WrittenSpan));
        Assert.Equal(0, output.WrittenCount);
    }

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("\"span\"")]
    [InlineData("42")]
    [InlineData("null")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{")]
    [InlineData("{\"span_id\":")]
    [InlineData("{\"span_id\":\"x\",}")]
    [InlineData("{\"a\":tru}")]
    [InlineData("not json")]
    [InlineData("{\"attributes\":{\"sentry.segment.id\":{\"value\":\"x\"}")]
    public void TryEnrich_NotAJsonObject_ReturnsFalseAndWritesNothing(string json)
    {
        var output = new ArrayBufferWriter<byte>();

        var ok = SpanEnricher.TryEnrich(Encoding.UTF8.GetBytes(json), new SegmentIdentity(Root), output, out var spanId, out var isSegment);

        Assert.False(ok);
        Assert.Equal(0, output.WrittenCount);
        Assert.Equal(string.Empty, spanId);
        Assert.False(isSegment);
    }
}
