using System.Text;
using SpanBuffer.Models;

namespace SpanBuffer.Tests;

/// <summary>
/// Span.Parse on text that is not valid UTF-8, or whose escapes do not decode: always an
/// <see cref="InvalidSpanException"/>, never another exception and never an accepted span.
/// </summary>
public sealed class SpanParseEncodingTests
{
    private const string Valid =
        "{\"trace_id\":\"0123456789abcdef0123456789abcdef\",\"span_id\":\"aaaaaaaaaaaaaaaa\",\"parent_span_id\":null,"
        + "\"project_id\":42,\"organization_id\":7,\"retention_days\":90,\"received\":1700000002.0,"
        + "\"start_timestamp\":1700000000.5,\"end_timestamp\":1700000001.25,\"status\":\"ok\",\"name\":\"NAME\","
        + "\"attributes\":{\"sentry.op\":{\"type\":\"string\",\"value\":\"VALUE\"}}}";

    /// <summary>The valid message with <paramref name="replacement"/> bytes in place of <paramref name="marker"/>.</summary>
    private static byte[] With(string marker, params byte[] replacement)
    {
        var text = Encoding.UTF8.GetBytes(Valid);
        var markerBytes = Encoding.UTF8.GetBytes(marker);
        var at = text.AsSpan().IndexOf(markerBytes);
        Assert.True(at >= 0, marker);
        return [.. text.AsSpan(0, at), .. replacement, .. text.AsSpan(at + markerBytes.Length)];
    }

    private static InvalidSpanException ParseFails(byte[] message)
    {
        var ex = Record.Exception(() => Span.Parse(message));
        return ex as InvalidSpanException
            ?? throw new Xunit.Sdk.XunitException($"expected InvalidSpanException, got {ex?.GetType().Name ?? "a span"}: {ex?.Message}");
    }

    public static TheoryData<byte[]> InvalidSequences => new(
        [0x80],                     // lone continuation byte
        [(byte)'a', 0xBF, (byte)'b'],
        [0xC3],                     // truncated two-byte sequence
        [0xE2, 0x82],               // truncated three-byte sequence
        [0xC0, 0xAF],               // overlong '/'
        [0xE0, 0x80, 0xAF],         // overlong '/'
        [0xED, 0xA0, 0x80],         // U+D800 encoded in UTF-8
        [0xED, 0xBF, 0xBF],         // U+DFFF encoded in UTF-8
        [0xF4, 0x90, 0x80, 0x80],   // above U+10FFFF
        [0xFF]);

    [Fact]
    public void Parse_TheBaseMessage_IsValid()
    {
        Assert.Equal("aaaaaaaaaaaaaaaa", Span.Parse(Encoding.UTF8.GetBytes(Valid)).SpanId);
    }

    [Theory]
    [MemberData(nameof(InvalidSequences))]
    public void Parse_InvalidUtf8InAPropertyName_ThrowsInvalidSpanException(byte[] sequence)
    {
        var ex = ParseFails(With("name", [(byte)'n', .. sequence, (byte)'e']));

        Assert.Equal("$", ex.Field);
        Assert.Contains("UTF-8", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(InvalidSequences))]
    public void Parse_InvalidUtf8InANestedPropertyName_ThrowsInvalidSpanException(byte[] sequence)
    {
        var ex = ParseFails(With("sentry.op", [(byte)'o', .. sequence, (byte)'p']));

        Assert.Equal("$", ex.Field);
    }

    [Theory]
    [MemberData(nameof(InvalidSequences))]
    public void Parse_InvalidUtf8InAStringValue_ThrowsInvalidSpanException(byte[] sequence)
    {
        var ex = ParseFails(With("NAME", [(byte)'N', .. sequence, (byte)'E']));

        Assert.Equal("$", ex.Field);
        Assert.Contains("UTF-8", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(InvalidSequences))]
    public void Parse_InvalidUtf8InANestedStringValue_ThrowsInvalidSpanException(byte[] sequence)
    {
        ParseFails(With("VALUE", [(byte)'V', .. sequence, (byte)'E']));
    }

    [Theory]
    [MemberData(nameof(InvalidSequences))]
    public void Parse_InvalidUtf8InAnIdentifier_ThrowsInvalidSpanException(byte[] sequence)
    {
        ParseFails(With("aaaaaaaaaaaaaaaa", [(byte)'a', .. sequence, (byte)'a']));
    }

    [Fact]
    public void Parse_InvalidUtf8_NamesTheOffsetOfTheFirstBadByte()
    {
        var message = With("NAME", 0xC3, 0x28);
        var offset = Array.IndexOf(message, (byte)0xC3);

        var ex = ParseFails(message);

        Assert.Contains($"offset {offset}", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("name", "\\ud800")]
    [InlineData("name", "\\udc00")]
    [InlineData("name", "\\ud800\\u0041")]
    [InlineData("name", "x\\uDBFFx")]
    [InlineData("sentry.op", "\\ud800")]
    [InlineData("\"type\"", "\"\\udfff\"")]
    [InlineData("sentry.op", "sentry.segment.id\\ud800")]
    [InlineData("sentry.op", "\\ud800\\ud800\\ud800")]
    [InlineData("\"sentry.op\":{\"type\"", "\"sentry.segment.id\":{\"value\\ud800\"")]
    [InlineData("\"sentry.op\":{\"type\"", "\"sentry.segment.id\":{\"\\ud800\\udc00\"")]
    public void Parse_LoneSurrogateEscapeInAPropertyName_IsAnUnknownMemberKeptVerbatim(string marker, string escape)
    {
        // Valid JSON text: a name that does not decode cannot be one the parser reads, so it is skipped like any unknown
        // member, as the flush's scanner does; the bytes are stored and produced unchanged.
        var message = With(marker, Encoding.UTF8.GetBytes(escape));

        var ex = Record.Exception(() => Span.Parse(message));

        Assert.True(ex is null, $"expected a span, got {ex?.GetType().Name}: {ex?.Message}");
        Assert.Equal(message, Span.Parse(message).Payload.ToArray());
    }

    [Theory]
    [InlineData("trace_id")]
    [InlineData("span_id")]
    [InlineData("parent_span_id")]
    [InlineData("status")]
    public void Parse_LoneSurrogateEscapeInAStringField_ThrowsNamingTheField(string field)
    {
        var message = field == "parent_span_id"
            ? With("\"parent_span_id\":null", Encoding.UTF8.GetBytes("\"parent_span_id\":\"\\ud800\""))
            : With($"\"{field}\":\"", Encoding.UTF8.GetBytes($"\"{field}\":\"\\ud800"));

        var ex = ParseFails(message);

        Assert.Equal(field, ex.Field);
    }

    [Fact]
    public void Parse_LoneSurrogateEscapeInTheSegmentIdAttribute_ThrowsNamingIt()
    {
        var message = With("\"sentry.op\":{\"type\":\"string\",\"value\":\"VALUE\"}", Encoding.UTF8.GetBytes("\"sentry.segment.id\":{\"type\":\"string\",\"value\":\"\\udfff\"}"));

        Assert.Equal("sentry.segment.id", ParseFails(message).Field);
    }

    [Fact]
    public void Parse_LoneSurrogateEscapeInAnIgnoredStringValue_IsKeptVerbatim()
    {
        // Valid JSON text and valid UTF-8: it is stored and produced unchanged, as the flush's scanner accepts it too.
        var message = With("NAME", Encoding.UTF8.GetBytes("\\ud800"));

        Assert.Equal(message, Span.Parse(message).Payload.ToArray());
    }

    [Fact]
    public void Parse_EscapedMemberNames_AreReadAsTheirDecodedNames()
    {
        var message = Encoding.UTF8.GetBytes(Valid
            .Replace("\"span_id\"", "\"span\\u005fid\"", StringComparison.Ordinal)
            .Replace("\"project_id\"", "\"\\u0070\\u0072\\u006f\\u006a\\u0065\\u0063\\u0074\\u005f\\u0069\\u0064\"", StringComparison.Ordinal)
            .Replace("\"status\":\"ok\"", "\"st\\u0061tus\":\"\\u006fk\"", StringComparison.Ordinal));

        var span = Span.Parse(message);

        Assert.Equal("aaaaaaaaaaaaaaaa", span.SpanId);
        Assert.Equal(42, span.ProjectId);
    }

    [Fact]
    public void Parse_AnEscapedNameTooLongToBeARequiredOne_IsIgnored()
    {
        var longName = string.Concat(Enumerable.Repeat("\\u0061", 16));

        var span = Span.Parse(With("name", Encoding.UTF8.GetBytes(longName)));

        Assert.Equal("aaaaaaaaaaaaaaaa", span.SpanId);
    }
}
