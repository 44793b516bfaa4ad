using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace SpanBuffer.Flush;

/// <summary>How the <c>sentry.segment.id</c> attribute gets into the output.</summary>
internal enum SegmentIdEdit
{
    /// <summary>The span already has a truthy one: nothing changes.</summary>
    None,

    /// <summary>attributes is not an object: it is replaced by one holding only the attribute.</summary>
    ReplaceAttributes,

    /// <summary>The attribute is there but falsy: its value is replaced.</summary>
    ReplaceSegmentId,

    /// <summary>attributes is an object without the attribute: it is added before the closing brace.</summary>
    AppendToAttributes,

    /// <summary>There is no attributes: one is appended to the span.</summary>
    AppendAttributes,
}

/// <summary>
/// The result of scanning one payload for its segment: the exact enriched length, the span's id and role, and the
/// edits <see cref="SpanEnricher.Write"/> applies. Offsets refer to the scanned payload.
/// </summary>
internal readonly struct EnrichmentLayout
{
    /// <summary>Gets the number of bytes <see cref="SpanEnricher.Write"/> writes.</summary>
    public int Length { get; init; }

    /// <summary>Gets a value indicating whether a scan produced this layout: an enriched span is never empty, a default layout is.</summary>
    public bool IsValid => Length > 0;

    /// <summary>Gets the span_id string, or empty when it is missing or not a string.</summary>
    public string SpanId { get; init; }

    /// <summary>Gets a value indicating whether the span is the segment's root.</summary>
    public bool IsSegment { get; init; }

    /// <summary>Gets a value indicating whether the span has an is_segment member, whose value is overwritten.</summary>
    public bool HasIsSegment { get; init; }

    /// <summary>Gets where the value of the last is_segment member starts.</summary>
    public JsonMark IsSegmentStart { get; init; }

    /// <summary>Gets where the value of the last is_segment member ends.</summary>
    public JsonMark IsSegmentEnd { get; init; }

    /// <summary>Gets how the segment id attribute gets into the output.</summary>
    public SegmentIdEdit SegmentIdEdit { get; init; }

    /// <summary>Gets the start of the replaced text for the replacing edits, or the insertion point for <see cref="SegmentIdEdit.AppendToAttributes"/>.</summary>
    public JsonMark SegmentIdEditStart { get; init; }

    /// <summary>Gets the end of the replaced text (the insertion point again when nothing is replaced).</summary>
    public JsonMark SegmentIdEditEnd { get; init; }

    /// <summary>Gets a value indicating whether the attributes object has no members, so an added attribute needs no comma.</summary>
    public bool AttributesEmpty { get; init; }

    /// <summary>Gets the span object's closing brace, before which missing members are appended.</summary>
    public JsonMark RootClose { get; init; }

    /// <summary>Gets a value indicating whether the span object has no members, so the first appended one needs no comma.</summary>
    public bool RootEmpty { get; init; }
}

/// <summary>
/// Applies the segment enrichment to one span payload without a DOM: <c>is_segment</c> is set (overwritten in
/// place, or appended), <c>attributes["sentry.segment.id"]</c> is added when missing or falsy (a non-object
/// <c>attributes</c> is replaced by an object), and every other token is copied byte for byte. Whitespace
/// between tokens is dropped, so the output is compact JSON. <see cref="TryScan"/> validates and sizes, then
/// <see cref="Write"/> produces exactly that many bytes, so callers can lay many spans out in one buffer.
/// </summary>
internal static class SpanEnricher
{
    /// <summary>Span ids with escapes longer than this are unescaped in a pooled array instead of on the stack.</summary>
    private const int StackUnescapeLimit = 256;

    private static ReadOnlySpan<byte> SegmentIdMember => "\"sentry.segment.id\":"u8;

    private static ReadOnlySpan<byte> AttributesObjectStart => "{\"sentry.segment.id\":"u8;

    private static ReadOnlySpan<byte> AttributesMemberStart => "\"attributes\":{\"sentry.segment.id\":"u8;

    private static ReadOnlySpan<byte> IsSegmentMember => "\"is_segment\":"u8;

    /// <summary>Enriches <paramref name="payload"/>; returns <see langword="false"/> (writing nothing) if it is not a JSON object.</summary>
    public static bool TryEnrich(ReadOnlySpan<byte> payload, SegmentIdentity segment, IBufferWriter<byte> output, out string spanId, out bool isSegment)
    {
        if (!TryScan(payload, segment, out var layout))
        {
            spanId = string.Empty;
            isSegment = false;
            return false;
        }

        var written = Write(payload, segment, layout, output.GetSpan(layout.Length));
        output.Advance(written);
        spanId = layout.SpanId;
        isSegment = layout.IsSegment;
        return true;
    }

    /// <summary>
    /// Validates <paramref name="payload"/> (one JSON object in valid UTF-8, only whitespace around it) and works out
    /// its enrichment for <paramref name="segment"/>; false if it is not valid or its span_id cannot be decoded.
    /// </summary>
    public static bool TryScan(ReadOnlySpan<byte> payload, SegmentIdentity segment, out EnrichmentLayout layout)
    {
        layout = default;
        if (!SpanJsonScanner.TryScan(payload, out var span) || !TryDecodeSpanId(payload, span, out var spanId))
        {
            return false;
        }

        var isSegment = span.HasSpanId && string.Equals(spanId, segment.SpanId, StringComparison.Ordinal);
        var segmentIdLength = segment.AttributeValue.Length;
        var isSegmentLength = isSegment ? 4 : 5;

        var edit = SegmentIdEdit.None;
        JsonMark editStart = default, editEnd = default;
        if (!span.SegmentIdIsTruthy)
        {
            (edit, editStart, editEnd) = span.Attributes switch
            {
                AttributesKind.NotObject => (SegmentIdEdit.ReplaceAttributes, span.AttributesStart, span.AttributesEnd),
                AttributesKind.Object when span.HasSegmentId => (SegmentIdEdit.ReplaceSegmentId, span.SegmentIdStart, span.SegmentIdEnd),
                AttributesKind.Object => (SegmentIdEdit.AppendToAttributes, span.AttributesClose, span.AttributesClose),
                _ => (SegmentIdEdit.AppendAttributes, default(JsonMark), default(JsonMark)),
            };
        }

        // The kept text, compacted, plus the closing brace, then each edit's replacement in place of what it replaces.
        var length = JsonMark.CompactLength(default, span.RootClose) + 1;
        var rootSeparator = span.RootEmpty ? 0 : 1;
        if (span.HasIsSegment)
        {
            length += isSegmentLength - JsonMark.CompactLength(span.IsSegmentStart, span.IsSegmentEnd);
        }
        else
        {
            length += rootSeparator + IsSegmentMember.Length + isSegmentLength;
            rootSeparator = 1;
        }

        length += edit switch
        {
            SegmentIdEdit.ReplaceAttributes => AttributesObjectStart.Length + segmentIdLength + 1 - JsonMark.CompactLength(editStart, editEnd),
            SegmentIdEdit.ReplaceSegmentId => segmentIdLength - JsonMark.CompactLength(editStart, editEnd),
            SegmentIdEdit.AppendToAttributes => (span.AttributesEmpty ? 0 : 1) + SegmentIdMember.Length + segmentIdLength,
            SegmentIdEdit.AppendAttributes => rootSeparator + AttributesMemberStart.Length + segmentIdLength + 1,
            _ => 0,
        };

        layout = new EnrichmentLayout
        {
            Length = length,
            SpanId = spanId,
            IsSegment = isSegment,
            HasIsSegment = span.HasIsSegment,
            IsSegmentStart = span.IsSegmentStart,
            IsSegmentEnd = span.IsSegmentEnd,
            SegmentIdEdit = edit,
            SegmentIdEditStart = editStart,
            SegmentIdEditEnd = editEnd,
            AttributesEmpty = span.AttributesEmpty,
            RootClose = span.RootClose,
            RootEmpty = span.RootEmpty,
        };
        return true;
    }

    /// <summary>
    /// Writes the enriched span laid out by <see cref="TryScan"/> for the same <paramref name="payload"/> and
    /// <paramref name="segment"/>; returns the number of bytes written, always <see cref="EnrichmentLayout.Length"/>.
    /// </summary>
    public static int Write(ReadOnlySpan<byte> payload, SegmentIdentity segment, in EnrichmentLayout layout, Span<byte> destination)
    {
        var output = destination[..layout.Length];
        var isSegmentLiteral = layout.IsSegment ? "true"u8 : "false"u8;
        var segmentIdValue = segment.AttributeValue.Span;

        // At most two edits inside the kept text, applied in payload order.
        var isSegmentFirst = layout.HasIsSegment
            && (layout.SegmentIdEdit is SegmentIdEdit.None or SegmentIdEdit.AppendAttributes || layout.IsSegmentStart.Offset < layout.SegmentIdEditStart.Offset);
        var written = 0;
        var position = default(JsonMark);
        if (isSegmentFirst)
        {
            written += CopyKept(payload, position, layout.IsSegmentStart, output[written..]);
            written += Append(output[written..], isSegmentLiteral);
            position = layout.IsSegmentEnd;
        }

        if (layout.SegmentIdEdit is SegmentIdEdit.ReplaceAttributes or SegmentIdEdit.ReplaceSegmentId or SegmentIdEdit.AppendToAttributes)
        {
            written += CopyKept(payload, position, layout.SegmentIdEditStart, output[written..]);
            switch (layout.SegmentIdEdit)
            {
                case SegmentIdEdit.ReplaceAttributes:
                    written += Append(output[written..], AttributesObjectStart);
                    written += Append(output[written..], segmentIdValue);
                    written += Append(output[written..], "}"u8);
                    break;
                case SegmentIdEdit.ReplaceSegmentId:
                    written += Append(output[written..], segmentIdValue);
                    break;
                default:
                    written += Append(output[written..], layout.AttributesEmpty ? ""u8 : ","u8);
                    written += Append(output[written..], SegmentIdMember);
                    written += Append(output[written..], segmentIdValue);
                    break;
            }

            position = layout.SegmentIdEditEnd;
        }

        if (layout.HasIsSegment && !isSegmentFirst)
        {
            written += CopyKept(payload, position, layout.IsSegmentStart, output[written..]);
            written += Append(output[written..], isSegmentLiteral);
            position = layout.IsSegmentEnd;
        }

        written += CopyKept(payload, position, layout.RootClose, output[written..]);

        // Members the span lacks go at the end of the object, as a Python dict appends new keys.
        var separator = layout.RootEmpty ? ""u8 : ","u8;
        if (layout.SegmentIdEdit == SegmentIdEdit.AppendAttributes)
        {
            written += Append(output[written..], separator);
            written += Append(output[written..], AttributesMemberStart);
            written += Append(output[written..], segmentIdValue);
            written += Append(output[written..], "}"u8);
            separator = ","u8;
        }

        if (!layout.HasIsSegment)
        {
            written += Append(output[written..], separator);
            written += Append(output[written..], IsSegmentMember);
            written += Append(output[written..], isSegmentLiteral);
        }

        written += Append(output[written..], "}"u8);
        Debug.Assert(written == layout.Length, "the layout's length is what the write produces");
        return written;
    }

    /// <summary>Decodes span_id as <c>Utf8JsonReader.GetString</c> would; false for a lone surrogate escape, which it cannot decode either.</summary>
    private static bool TryDecodeSpanId(ReadOnlySpan<byte> payload, in ScannedSpan span, out string spanId)
    {
        spanId = string.Empty;
        if (!span.HasSpanId)
        {
            return true;
        }

        var text = payload[span.SpanIdText];
        if (!span.SpanIdIsEscaped)
        {
            spanId = Encoding.UTF8.GetString(text);
            return true;
        }

        byte[]? rented = null;
        var buffer = text.Length <= StackUnescapeLimit ? stackalloc byte[StackUnescapeLimit] : (rented = ArrayPool<byte>.Shared.Rent(text.Length));
        try
        {
            if (!JsonUnescaper.TryUnescape(text, buffer, out var written))
            {
                return false;
            }

            spanId = Encoding.UTF8.GetString(buffer[..written]);
            return true;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Copies payload text that enrichment keeps; whitespace is dropped only when the marks say there is some.</summary>
    private static int CopyKept(ReadOnlySpan<byte> payload, JsonMark from, JsonMark to, Span<byte> destination)
    {
        var text = payload[from.Offset..to.Offset];
        if (from.WhitespaceBefore == to.WhitespaceBefore)
        {
            text.CopyTo(destination);
            return text.Length;
        }

        return CompactCopy(text, destination);
    }

    private static int Append(Span<byte> destination, ReadOnlySpan<byte> text)
    {
        text.CopyTo(destination);
        return text.Length;
    }

    private static readonly SearchValues<byte> s_stringOrWhitespace = SearchValues.Create("\" \t\n\r"u8);
    private static readonly SearchValues<byte> s_stringEnd = SearchValues.Create("\"\\"u8);

    /// <summary>
    /// Copies JSON text, dropping whitespace outside strings (the text was validated by the scanner). Runs of
    /// plain tokens and string contents are found with vectorized searches and copied in bulk.
    /// </summary>
    private static int CompactCopy(ReadOnlySpan<byte> json, Span<byte> destination)
    {
        var written = 0;
        while (!json.IsEmpty)
        {
            var stop = json.IndexOfAny(s_stringOrWhitespace);
            if (stop < 0)
            {
                json.CopyTo(destination[written..]);
                written += json.Length;
                break;
            }

            json[..stop].CopyTo(destination[written..]);
            written += stop;
            if (json[stop] != (byte)'"')
            {
                json = json[(stop + 1)..];
                continue;
            }

            // A string: copy through its closing quote, skipping escaped characters.
            var end = stop + 1;
            while (true)
            {
                var next = json[end..].IndexOfAny(s_stringEnd);
                end += next;
                if (json[end] == (byte)'"')
                {
                    break;
                }

                end += 2;
            }

            json[stop..(end + 1)].CopyTo(destination[written..]);
            written += end + 1 - stop;
            json = json[(end + 1)..];
        }

        return written;
    }
}

/// <summary>The segment a span is enriched for: its root id and the attribute object carrying it, encoded once.</summary>
internal sealed class SegmentIdentity
{
    /// <summary>Characters JSON string encoding never escapes; span ids and salts are made of them.</summary>
    private static readonly SearchValues<char> s_plainCharacters = SearchValues.Create("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");

    public SegmentIdentity(string spanId)
    {
        SpanId = spanId;
        var prefix = "{\"type\":\"string\",\"value\":\""u8;
        var suffix = "\"}"u8;
        if (spanId.AsSpan().ContainsAnyExcept(s_plainCharacters))
        {
            var encoded = JsonEncodedText.Encode(spanId, JavaScriptEncoder.UnsafeRelaxedJsonEscaping).EncodedUtf8Bytes;
            AttributeValue = (byte[])[.. prefix, .. encoded, .. suffix];
            return;
        }

        // Built once per flushed segment: the encoder's lookups and intermediate arrays showed in flush profiles.
        var value = new byte[prefix.Length + spanId.Length + suffix.Length];
        prefix.CopyTo(value);
        Encoding.ASCII.GetBytes(spanId, value.AsSpan(prefix.Length));
        suffix.CopyTo(value.AsSpan(prefix.Length + spanId.Length));
        AttributeValue = value;
    }

    public string SpanId { get; }

    /// <summary>Gets <c>{"type":"string","value":"&lt;id&gt;"}</c> as compact UTF-8 JSON.</summary>
    public ReadOnlyMemory<byte> AttributeValue { get; }
}
