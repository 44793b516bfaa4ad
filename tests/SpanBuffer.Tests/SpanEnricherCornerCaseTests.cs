using System.Buffers;
using System.Text;
using SpanBuffer.Flush;
using SpanBuffer.Tests.Oracles;

namespace SpanBuffer.Tests;

/// <summary>
/// Edges of the hand-written scanner, each checked against the Utf8JsonReader oracle where the oracle has an answer,
/// and pinned where the scanner deliberately differs (invalid UTF-8, undecodable escapes).
/// </summary>
public sealed class SpanEnricherCornerCaseTests
{
    private const string Root = "aaaaaaaaaaaaaaaa";
    private const string Child = "bbbbbbbbbbbbbbbb";
    private const string SegmentIdValue = "{\"type\":\"string\",\"value\":\"" + Root + "\"}";

    private static (bool Ok, string Output, string SpanId, bool IsSegment) Enrich(byte[] payload, string root = Root)
    {
        var output = new ArrayBufferWriter<byte>();
        var ok = SpanEnricher.TryEnrich(payload, new SegmentIdentity(root), output, out var spanId, out var isSegment);
        return (ok, Encoding.UTF8.GetString(output.WrittenSpan), spanId, isSegment);
    }

    /// <summary>Enriches with both implementations, asserts they agree and the scan sized the output exactly; returns the verdict.</summary>
    private static bool EnrichLikeTheOracle(byte[] payload, string root = Root)
    {
        var identity = new SegmentIdentity(root);
        var expected = new ArrayBufferWriter<byte>();
        var expectedOk = Utf8JsonReaderSpanEnricher.TryEnrich(payload, identity, expected, out var expectedSpanId, out var expectedIsSegment);
        var actual = new ArrayBufferWriter<byte>();
        var actualOk = SpanEnricher.TryEnrich(payload, identity, actual, out var actualSpanId, out var actualIsSegment);

        Assert.Equal(expectedOk, actualOk);
        Assert.Equal(Encoding.UTF8.GetString(expected.WrittenSpan), Encoding.UTF8.GetString(actual.WrittenSpan));
        Assert.Equal(expectedSpanId, actualSpanId);
        Assert.Equal(expectedIsSegment, actualIsSegment);
        if (actualOk)
        {
            Assert.True(SpanEnricher.TryScan(payload, identity, out var layout));
            Assert.Equal(actual.WrittenCount, layout.Length);
        }

        return actualOk;
    }

    private static bool EnrichLikeTheOracle(string json, string root = Root) => EnrichLikeTheOracle(Encoding.UTF8.GetBytes(json), root);

    private static string Nested(int levels, bool objects) => objects
        ? string.Concat(Enumerable.Repeat("{\"d\":", levels - 1)) + "{}" + new string('}', levels - 1)
        : new string('[', levels) + new string(']', levels);

    [Theory]
    [InlineData(511, true)]
    [InlineData(512, false)]
    public void TryEnrich_NestingInAMember_AcceptedUpToDepth512CountingTheSpan(int levels, bool accepted)
    {
        foreach (var objects in new[] { false, true })
        {
            Assert.Equal(accepted, EnrichLikeTheOracle("{\"span_id\":\"" + Child + "\",\"deep\":" + Nested(levels, objects) + "}"));
        }
    }

    [Theory]
    [InlineData(510, true)]
    [InlineData(511, false)]
    public void TryEnrich_NestingInAnAttribute_CountsTheAttributesObject(int levels, bool accepted)
    {
        Assert.Equal(accepted, EnrichLikeTheOracle("{\"attributes\":{\"k\":" + Nested(levels, objects: false) + "}}"));
    }

    [Theory]
    [InlineData(509, true)]
    [InlineData(510, false)]
    public void TryEnrich_NestingInTheSegmentIdValue_CountsItsAttributeObject(int levels, bool accepted)
    {
        Assert.Equal(accepted, EnrichLikeTheOracle("{\"attributes\":{\"sentry.segment.id\":{\"value\":" + Nested(levels, objects: true) + "}}}"));
    }

    [Fact]
    public void TryEnrich_EscapedMemberNames_AreUnescapedBeforeComparing()
    {
        var json = "{\"span\\u005fid\":\"" + Root + "\",\"is_s\\u0065gment\":false,\"attr\\u0069butes\":{\"sentry\\u002esegment.id\":{\"\\u0076alue\":\"\"}}}";

        Assert.True(EnrichLikeTheOracle(json));
        var (_, output, spanId, isSegment) = Enrich(Encoding.UTF8.GetBytes(json));
        Assert.Equal(Root, spanId);
        Assert.True(isSegment);
        Assert.Equal("{\"span\\u005fid\":\"" + Root + "\",\"is_s\\u0065gment\":true,\"attr\\u0069butes\":{\"sentry\\u002esegment.id\":" + SegmentIdValue + "}}", output);
    }

    [Theory]
    [InlineData("\"aaaa\\u0061aaaaaaaaaaa\"", Root)]
    [InlineData("\"\\u00e9t\\u00e9\"", "été")]
    [InlineData("\"\\ud83d\\ude00\"", "😀")]
    [InlineData("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "a\"b\\c/d\b\f\n\r\t")]
    [InlineData("\"été😀\"", "été😀")]
    public void TryEnrich_SpanIdWithEscapesOrNonAscii_DecodedAsTheReaderDecodes(string value, string expected)
    {
        var json = "{\"span_id\":" + value + "}";

        Assert.True(EnrichLikeTheOracle(json, expected));
        Assert.Equal(expected, Enrich(Encoding.UTF8.GetBytes(json), expected).SpanId);
    }

    [Theory]
    [InlineData("  \t\r\n{}")]
    [InlineData("{}  \t\r\n")]
    [InlineData("\n{ \"span_id\" : \"x\" }\n")]
    public void TryEnrich_JsonWhitespaceAroundTheObject_Accepted(string json)
    {
        Assert.True(EnrichLikeTheOracle(json));
    }

    [Theory]
    [InlineData(new byte[] { 0xEF, 0xBB, 0xBF, (byte)'{', (byte)'}' })]
    [InlineData(new byte[] { 0x0C, (byte)'{', (byte)'}' })]
    [InlineData(new byte[] { (byte)'{', (byte)'}', 0x0C })]
    [InlineData(new byte[] { (byte)'{', (byte)'}', 0x00 })]
    [InlineData(new byte[] { 0x00, (byte)'{', (byte)'}' })]
    [InlineData(new byte[] { 0xC2, 0xA0, (byte)'{', (byte)'}' })]
    public void TryEnrich_ByteOrderMarkOrOtherBytesAroundTheObject_Rejected(byte[] payload)
    {
        Assert.False(EnrichLikeTheOracle(payload));
    }

    [Theory]
    [InlineData(new byte[] { 0xFF })]
    [InlineData(new byte[] { 0xC3 })]
    [InlineData(new byte[] { 0xC0, 0x80 })]
    [InlineData(new byte[] { 0xE0, 0x80, 0x80 })]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })]
    [InlineData(new byte[] { 0xF4, 0x90, 0x80, 0x80 })]
    [InlineData(new byte[] { 0xE6, 0x97 })]
    [InlineData(new byte[] { 0x80 })]
    public void TryEnrich_InvalidUtf8InAString_RejectedThoughTheReaderAcceptsIt(byte[] invalid)
    {
        // Deliberately stricter than Utf8JsonReader, which does not validate UTF-8 inside strings.
        foreach (var (prefix, suffix) in new[] { ("{\"name\":\"x", "y\"}"), ("{\"n", "\":1}"), ("{\"attributes\":{\"k\":\"", "\"}}"), ("{\"pad\":\"" + new string('p', 100), "\"}") })
        {
            byte[] payload = [.. Encoding.UTF8.GetBytes(prefix), .. invalid, .. Encoding.UTF8.GetBytes(suffix)];
            var output = new ArrayBufferWriter<byte>();

            Assert.True(Utf8JsonReaderSpanEnricher.TryEnrich(payload, new SegmentIdentity(Root), output, out _, out _));
            Assert.False(Enrich(payload).Ok);
        }
    }

    [Theory]
    [InlineData("é")]
    [InlineData("日本")]
    [InlineData("😀")]
    [InlineData("\uFFFF\uFEFF\u2028")]
    public void TryEnrich_ValidNonAsciiInStrings_CopiedVerbatim(string text)
    {
        var json = "{\"" + text + "\":\"" + text + "\",\"pad\":\"" + new string('p', 70) + text + "\"}";

        Assert.True(EnrichLikeTheOracle(json));
        Assert.StartsWith(json[..^1], Enrich(Encoding.UTF8.GetBytes(json)).Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-0", true)]
    [InlineData("0", true)]
    [InlineData("-0.0e-0", true)]
    [InlineData("1e-400", true)]
    [InlineData("1E+400", true)]
    [InlineData("1e999999999999", true)]
    [InlineData("12345678901234567890123456789012345678901234567890", true)]
    [InlineData("1.23456789012345678901234567890123456789e-5", true)]
    [InlineData("1234567890123456789012345678901.5", true)]
    [InlineData("123456789012345678901234567890.5e5", true)]
    [InlineData("01", false)]
    [InlineData("-01", false)]
    [InlineData("00", false)]
    [InlineData("1.", false)]
    [InlineData(".5", false)]
    [InlineData("-", false)]
    [InlineData("+1", false)]
    [InlineData("1e", false)]
    [InlineData("1e+", false)]
    [InlineData("1.e5", false)]
    [InlineData("1x", false)]
    [InlineData("0x10", false)]
    [InlineData("1.5.5", false)]
    [InlineData("1e5e5", false)]
    [InlineData("1-2", false)]
    [InlineData("Infinity", false)]
    [InlineData("NaN", false)]
    public void TryEnrich_Numbers_FollowRfc8259AsTheReaderDoes(string number, bool accepted)
    {
        // At every offset, so numbers also start and end around the vector and block edges.
        for (var pad = 0; pad < 70; pad++)
        {
            Assert.Equal(accepted, EnrichLikeTheOracle("{\"" + new string('p', pad) + "\":" + number + ",\"n\":[" + number + "]}"));
        }
    }

    [Theory]
    [InlineData("-0", false)]
    [InlineData("0.0", false)]
    [InlineData("1e-400", false)]
    [InlineData("2e-324", false)]
    [InlineData("3e-324", true)]
    [InlineData("1e400", true)]
    [InlineData("-1e999999999999", true)]
    [InlineData("0e999999999999", false)]
    [InlineData("0.000000000000000000000000000000000000000000000000001", true)]
    public void TryEnrich_NumericSegmentIdValue_TruthyWhenItParsesToNonZero(string number, bool truthy)
    {
        var json = "{\"span_id\":\"" + Child + "\",\"attributes\":{\"sentry.segment.id\":{\"value\":" + number + "}}}";

        Assert.True(EnrichLikeTheOracle(json));
        var output = Enrich(Encoding.UTF8.GetBytes(json)).Output;
        Assert.Equal(truthy, output.Contains("\"value\":" + number, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("\"\\ud800\"")]
    [InlineData("\"\\udc00\"")]
    [InlineData("\"x\\ud800\\u0041\"")]
    [InlineData("\"\\ud800\\n\"")]
    public void TryEnrich_LoneSurrogateEscapeInAValue_AcceptedAndCopied(string value)
    {
        var json = "{\"span_id\":\"" + Child + "\",\"name\":" + value + ",\"attributes\":{\"k\":" + value + ",\"sentry.segment.id\":{\"value\":" + value + "}}}";

        Assert.True(EnrichLikeTheOracle(json));
        Assert.Contains("\"name\":" + value, Enrich(Encoding.UTF8.GetBytes(json)).Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\\ud800")]
    [InlineData("\\ud800xxxxx")]
    [InlineData("\\udc00xxxxxxxxxxxxxxx")]
    public void TryEnrich_LoneSurrogateEscapeInAMemberName_IsJustAnotherName(string name)
    {
        // Utf8JsonReader.ValueTextEquals throws InvalidOperationException for some of these (so the old code threw out
        // of TryEnrich and failed the flush): such a name cannot equal span_id, is_segment, attributes,
        // sentry.segment.id or value, so it is compared as unequal.
        var json = "{\"" + name + "\":1,\"span_id\":\"" + Child + "\",\"attributes\":{\"" + name + "\":2,\"sentry.segment.id\":{\"" + name + "\":3,\"value\":\"x\"}}}";

        var (ok, output, spanId, _) = Enrich(Encoding.UTF8.GetBytes(json));

        Assert.True(ok);
        Assert.Equal(Child, spanId);
        Assert.Equal(json[..^1] + ",\"is_segment\":false}", output);
    }

    [Theory]
    [InlineData("\"\\ud800\"")]
    [InlineData("\"\\udfff\"")]
    [InlineData("\"ab\\ud800cd\"")]
    [InlineData("\"\\ud800\\ud800\"")]
    [InlineData("\"\\ud83d\\u0041\"")]
    public void TryEnrich_SpanIdWithALoneSurrogateEscape_RejectedWhereTheReaderThrew(string value)
    {
        // Utf8JsonReader.GetString throws InvalidOperationException (the old code let it escape and fail the flush):
        // the span id cannot be decoded, so the payload is invalid.
        var payload = Encoding.UTF8.GetBytes("{\"span_id\":" + value + "}");
        var output = new ArrayBufferWriter<byte>();

        Assert.Throws<InvalidOperationException>(() => Utf8JsonReaderSpanEnricher.TryEnrich(payload, new SegmentIdentity(Root), output, out _, out _));
        var (ok, written, spanId, isSegment) = Enrich(payload);
        Assert.False(ok);
        Assert.Equal(string.Empty, written);
        Assert.Equal(string.Empty, spanId);
        Assert.False(isSegment);
    }

    [Theory]
    [InlineData("\"\\x41\"")]
    [InlineData("\"\\'\"")]
    [InlineData("\"\\0\"")]
    [InlineData("\"\\u12\"")]
    [InlineData("\"\\u12G4\"")]
    [InlineData("\"\\U0041\"")]
    [InlineData("\"a\u0000b\"")]
    [InlineData("\"a\u001fb\"")]
    [InlineData("\"a\tb\"")]
    [InlineData("\"a\nb\"")]
    [InlineData("\"unterminated")]
    [InlineData("\"trailing backslash\\")]
    public void TryEnrich_InvalidStrings_Rejected(string value)
    {
        Assert.False(EnrichLikeTheOracle("{\"s\":" + value + "}"));
        Assert.False(EnrichLikeTheOracle("{" + value + ":1}"));
    }

    [Theory]
    [InlineData("\"a\u007fb\"")]
    [InlineData("\"\\u0000\"")]
    [InlineData("\"\\uFFFF\\uabcd\"")]
    [InlineData("\"\\\\\\\"\"")]
    public void TryEnrich_UnusualValidStrings_Accepted(string value)
    {
        Assert.True(EnrichLikeTheOracle("{\"s\":" + value + "}"));
        Assert.True(EnrichLikeTheOracle("{" + value + ":1}"));
    }

    [Theory]
    [InlineData("{\"a\":1,}")]
    [InlineData("{\"a\":[1,]}")]
    [InlineData("{\"a\":[,1]}")]
    [InlineData("{,\"a\":1}")]
    [InlineData("{\"a\" 1}")]
    [InlineData("{\"a\"::1}")]
    [InlineData("{\"a\":1 \"b\":2}")]
    [InlineData("{\"a\":1}/**/")]
    [InlineData("{/**/\"a\":1}")]
    [InlineData("{\"a\":1}//")]
    [InlineData("{'a':1}")]
    [InlineData("{a:1}")]
    [InlineData("{\"a\":tru}")]
    [InlineData("{\"a\":True}")]
    [InlineData("{\"a\":nulll}")]
    [InlineData("{\"a\":[}")]
    [InlineData("{\"a\":{]}")]
    [InlineData("{\"a\":[1}")]
    [InlineData("{\"a\":1]")]
    public void TryEnrich_StructuralErrors_Rejected(string json)
    {
        Assert.False(EnrichLikeTheOracle(json));
    }

    [Fact]
    public void TryEnrich_DuplicateKeys_LastOccurrenceCountsAndEarlierOnesAreCopied()
    {
        var json = "{\"span_id\":\"" + Root + "\",\"is_segment\":1,\"attributes\":{\"sentry.segment.id\":{\"value\":\"x\"}},"
            + "\"span_id\":\"" + Child + "\",\"is_segment\":2,\"attributes\":[],\"attributes\":{\"sentry.segment.id\":{\"value\":\"y\"},\"sentry.segment.id\":null}}";

        Assert.True(EnrichLikeTheOracle(json));
        var (_, output, spanId, isSegment) = Enrich(Encoding.UTF8.GetBytes(json));
        Assert.Equal(Child, spanId);
        Assert.False(isSegment);
        Assert.Equal(
            "{\"span_id\":\"" + Root + "\",\"is_segment\":1,\"attributes\":{\"sentry.segment.id\":{\"value\":\"x\"}},"
            + "\"span_id\":\"" + Child + "\",\"is_segment\":false,\"attributes\":[],\"attributes\":{\"sentry.segment.id\":{\"value\":\"y\"},\"sentry.segment.id\":" + SegmentIdValue + "}}",
            output);
    }

    [Fact]
    public void TryEnrich_StringsAndEscapesAtEveryOffset_AgreeWithTheOracle()
    {
        // Strings starting, ending and escaping at every offset around the 64-byte blocks the scanner classifies, in
        // payloads of lengths on both sides of a block.
        string[] contents = ["", "x", "\\\"", "\\\\", "a\\\"", "\\u0041", "ab\\\\\\\"cd", "é", "\\ud83d\\ude00", "😀"];
        for (var pad = 0; pad < 140; pad++)
        {
            foreach (var content in contents)
            {
                Assert.True(EnrichLikeTheOracle("{\"" + new string('p', pad) + "\":\"" + content + "\",\"" + content + "\":[\"" + content + "\"]}"));
                Assert.True(EnrichLikeTheOracle("{\"span_id\":\"" + new string('i', pad) + content + "\"}", Root));
            }
        }
    }

    [Theory]
    [InlineData("string", "\"v\"")]
    [InlineData("integer", "42")]
    [InlineData("double", "-1.5e3")]
    [InlineData("boolean", "true")]
    [InlineData("string", "{\"x\":[1,\"y\"]}")]
    [InlineData("strinG", "\"v\"")]
    [InlineData("integers", "1")]
    [InlineData("str\\u0069ng", "\"v\"")]
    public void TryEnrich_TypedAttributeValues_AgreeWithTheOracleAtEveryOffsetAndCut(string type, string value)
    {
        // Objects shaped {"type":"string","value":...} are matched as a whole; the bytes after the match, cuts through
        // it and changed bytes in it must all be treated as the reader treats them.
        for (var pad = 0; pad < 70; pad++)
        {
            var attribute = "{\"type\":\"" + type + "\",\"value\":" + value + "}";
            var json = "{\"span_id\":\"" + Child + "\",\"attributes\":{\"" + new string('p', pad) + "\":" + attribute + ",\"sentry.segment.id\":" + attribute + "}}";
            Assert.True(EnrichLikeTheOracle(json));

            var bytes = Encoding.UTF8.GetBytes(json);
            var start = json.IndexOf("{\"type\"", StringComparison.Ordinal);
            for (var i = start; i < start + 30; i++)
            {
                Assert.False(Enrich(bytes[..i]).Ok);
                foreach (var replacement in "\"}: x"u8.ToArray())
                {
                    var changed = (byte[])bytes.Clone();
                    changed[i] = replacement;
                    EnrichLikeTheOracle(changed);
                }
            }
        }
    }

    [Fact]
    public void TryEnrich_TruncatedPayloads_RejectedAtEveryLength()
    {
        var json = Encoding.UTF8.GetBytes("{\"span_id\":\"" + Child + "\",\"n\":-1.5e+3,\"s\":\"a\\\"b\\u0041é\",\"t\":true,\"f\":false,\"z\":null,"
            + "\"attributes\":{\"sentry.segment.id\":{\"type\":\"string\",\"value\":[1,{\"x\":\"y\"}]},\"k\":{}},\"pad\":\"" + new string('p', 80) + "\"}");

        for (var length = 0; length < json.Length; length++)
        {
            Assert.False(Enrich(json[..length]).Ok, "accepted a payload cut at " + length);
        }

        Assert.True(EnrichLikeTheOracle(json));
    }

    [Theory]
    [InlineData(Root)]
    [InlineData("3106330ede3673ae78e9b017358c794a")]
    [InlineData("AZaz09")]
    [InlineData("")]
    [InlineData("a\"b\\c")]
    [InlineData("a<b>&'+`")]
    [InlineData("été")]
    [InlineData("😀")]
    [InlineData("\u0001\u007f\u2028")]
    [InlineData("span id")]
    public void SegmentIdentity_AnyId_EncodesAsTheJsonEncoderDoes(string id)
    {
        var encoded = System.Text.Json.JsonEncodedText.Encode(id, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping).ToString();

        Assert.Equal("{\"type\":\"string\",\"value\":\"" + encoded + "\"}", Encoding.UTF8.GetString(new SegmentIdentity(id).AttributeValue.Span));
    }

    [Fact]
    public void TryScan_ThenWrite_FillsExactlyTheReportedLength()
    {
        var identity = new SegmentIdentity(Root);
        var payload = Encoding.UTF8.GetBytes("{ \"span_id\" : \"" + Root + "\" ,\n \"attributes\" : { \"k\" : [ 1 , 2 ] } }\n");

        Assert.True(SpanEnricher.TryScan(payload, identity, out var layout));
        var destination = new byte[layout.Length];
        var written = SpanEnricher.Write(payload, identity, layout, destination);

        Assert.Equal(layout.Length, written);
        Assert.Equal("{\"span_id\":\"" + Root + "\",\"attributes\":{\"k\":[1,2],\"sentry.segment.id\":" + SegmentIdValue + "},\"is_segment\":true}", Encoding.UTF8.GetString(destination));
        Assert.Equal(Root, layout.SpanId);
        Assert.True(layout.IsSegment);
    }

    [Fact]
    public void TryScan_InvalidPayload_LeavesADefaultLayout()
    {
        Assert.False(SpanEnricher.TryScan("{\"a\":}"u8, new SegmentIdentity(Root), out var layout));

        Assert.False(layout.IsValid);
        Assert.Equal(0, layout.Length);
    }
}
