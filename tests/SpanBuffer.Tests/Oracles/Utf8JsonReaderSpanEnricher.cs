using System.Buffers;
using System.Text.Json;
using SpanBuffer.Flush;

namespace SpanBuffer.Tests.Oracles;

/// <summary>
/// The previous <see cref="SpanEnricher"/>, built on <see cref="Utf8JsonReader"/>, kept verbatim as a test oracle:
/// the hand-written scanner must accept exactly what this accepts (except invalid UTF-8, which this lets through
/// inside strings) and produce the same bytes, span id and is_segment. Not used by production code.
/// </summary>
/// <remarks>
/// Original summary: applies the segment enrichment to one span payload without a DOM: <c>is_segment</c> is set
/// (overwritten in place, or appended), <c>attributes["sentry.segment.id"]</c> is added when missing or falsy (a
/// non-object <c>attributes</c> is replaced by an object), and every other token is copied byte for byte. Whitespace
/// between tokens is dropped, so the output is compact JSON.
/// </remarks>
internal static class Utf8JsonReaderSpanEnricher
{
    private static ReadOnlySpan<byte> SegmentIdAttribute => "sentry.segment.id"u8;

    /// <summary>Enriches <paramref name="payload"/>; returns <see langword="false"/> (writing nothing) if it is not a JSON object.</summary>
    public static bool TryEnrich(ReadOnlySpan<byte> payload, SegmentIdentity segment, IBufferWriter<byte> output, out string spanId, out bool isSegment)
    {
        var segmentSpanId = segment.SpanId;
        spanId = string.Empty;
        isSegment = false;
        try
        {
            if (!TryScan(payload, out var layout))
            {
                return false;
            }

            spanId = layout.SpanId ?? string.Empty;
            isSegment = layout.SpanId is not null && string.Equals(layout.SpanId, segmentSpanId, StringComparison.Ordinal);
            Write(payload, segment, layout, isSegment, output);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Positions (byte offsets into the payload) of what enrichment changes.</summary>
    private struct Layout
    {
        public string? SpanId;
        public Range IsSegmentValue;              // default (0..0) when absent
        public Range AttributesValue;             // default when absent
        public bool AttributesIsObject;
        public Range SegmentIdAttributeValue;     // the value of attributes["sentry.segment.id"] when present
        public bool SegmentIdIsTruthy;
        public int AttributesObjectEnd;           // offset of the closing brace of attributes
        public bool AttributesObjectEmpty;
        public int RootObjectEnd;                 // offset of the closing brace of the span
        public bool RootObjectEmpty;
    }

    private static bool TryScan(ReadOnlySpan<byte> payload, out Layout layout)
    {
        layout = default;
        var reader = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = 512 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return false;
        }

        layout.RootObjectEmpty = true;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            layout.RootObjectEmpty = false;
            var isSpanId = reader.ValueTextEquals("span_id"u8);
            var isIsSegment = !isSpanId && reader.ValueTextEquals("is_segment"u8);
            var isAttributes = !isSpanId && !isIsSegment && reader.ValueTextEquals("attributes"u8);
            reader.Read();
            var start = (int)reader.TokenStartIndex;
            if (isAttributes && reader.TokenType == JsonTokenType.StartObject)
            {
                layout.AttributesIsObject = true;
                ScanAttributes(ref reader, ref layout);
            }
            else
            {
                if (isSpanId)
                {
                    layout.SpanId = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }

                reader.Skip();
                if (isAttributes)
                {
                    layout.AttributesIsObject = false;
                    layout.SegmentIdAttributeValue = default;
                    layout.SegmentIdIsTruthy = false;
                }
            }

            var end = (int)reader.BytesConsumed;
            if (isIsSegment)
            {
                layout.IsSegmentValue = start..end;
            }
            else if (isAttributes)
            {
                layout.AttributesValue = start..end;
            }
        }

        if (reader.TokenType != JsonTokenType.EndObject)
        {
            return false;
        }

        layout.RootObjectEnd = (int)reader.TokenStartIndex;

        // Only whitespace may follow the object: Read() returns false at the end and throws on anything else.
        return !reader.Read();
    }

    private static void ScanAttributes(ref Utf8JsonReader reader, ref Layout layout)
    {
        layout.AttributesObjectEmpty = true;
        layout.SegmentIdAttributeValue = default;
        layout.SegmentIdIsTruthy = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            layout.AttributesObjectEmpty = false;
            var isSegmentId = reader.ValueTextEquals(SegmentIdAttribute);
            reader.Read();
            var start = (int)reader.TokenStartIndex;
            if (isSegmentId)
            {
                layout.SegmentIdIsTruthy = reader.TokenType == JsonTokenType.StartObject && HasTruthyValue(ref reader);
                if (reader.TokenType != JsonTokenType.EndObject)
                {
                    reader.Skip();
                }

                layout.SegmentIdAttributeValue = start..(int)reader.BytesConsumed;
            }
            else
            {
                reader.Skip();
            }
        }

        layout.AttributesObjectEnd = (int)reader.TokenStartIndex;
    }

    /// <summary>Reads an attribute object to its end; true when its <c>value</c> is truthy in Python's sense.</summary>
    private static bool HasTruthyValue(ref Utf8JsonReader reader)
    {
        var truthy = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isValue = reader.ValueTextEquals("value"u8);
            reader.Read();
            if (isValue)
            {
                truthy = reader.TokenType switch
                {
                    JsonTokenType.String => reader.ValueSpan.Length > 0,
                    JsonTokenType.Number => reader.TryGetDouble(out var number) && number != 0,
                    JsonTokenType.True => true,
                    JsonTokenType.StartObject or JsonTokenType.StartArray => IsNonEmptyContainer(ref reader),
                    _ => false,
                };
            }

            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                reader.Skip();
            }
        }

        return truthy;
    }

    private static bool IsNonEmptyContainer(ref Utf8JsonReader reader)
    {
        var copy = reader;
        copy.Read();
        return copy.TokenType is not (JsonTokenType.EndObject or JsonTokenType.EndArray);
    }

    private static void Write(ReadOnlySpan<byte> payload, SegmentIdentity segment, in Layout layout, bool isSegment, IBufferWriter<byte> output)
    {
        var isSegmentLiteral = isSegment ? "true"u8 : "false"u8;
        var segmentIdObject = segment.AttributeValue.Span;

        // Edits sorted by offset: (start, end, replacement kind).
        Span<Edit> edits = stackalloc Edit[3];
        var count = 0;
        if (!layout.IsSegmentValue.Equals(default(Range)))
        {
            edits[count++] = new Edit(layout.IsSegmentValue, EditKind.IsSegmentValue);
        }

        if (!layout.SegmentIdIsTruthy)
        {
            if (!layout.AttributesValue.Equals(default(Range)) && !layout.AttributesIsObject)
            {
                edits[count++] = new Edit(layout.AttributesValue, EditKind.AttributesObject);
            }
            else if (layout.AttributesIsObject && !layout.SegmentIdAttributeValue.Equals(default(Range)))
            {
                edits[count++] = new Edit(layout.SegmentIdAttributeValue, EditKind.SegmentIdValue);
            }
            else if (layout.AttributesIsObject)
            {
                edits[count++] = new Edit(layout.AttributesObjectEnd..layout.AttributesObjectEnd, EditKind.AppendSegmentId);
            }
        }

        edits[..count].Sort(static (a, b) => a.Range.Start.Value.CompareTo(b.Range.Start.Value));

        var position = 0;
        foreach (var edit in edits[..count])
        {
            CompactCopy(payload[position..edit.Range.Start.Value], output);
            switch (edit.Kind)
            {
                case EditKind.IsSegmentValue:
                    output.Write(isSegmentLiteral);
                    break;
                case EditKind.AttributesObject:
                    output.Write("{\"sentry.segment.id\":"u8);
                    output.Write(segmentIdObject);
                    output.Write("}"u8);
                    break;
                case EditKind.SegmentIdValue:
                    output.Write(segmentIdObject);
                    break;
                case EditKind.AppendSegmentId:
                    output.Write(layout.AttributesObjectEmpty ? "\"sentry.segment.id\":"u8 : ",\"sentry.segment.id\":"u8);
                    output.Write(segmentIdObject);
                    break;
            }

            position = edit.Range.End.Value;
        }

        // Members the span lacks go at the end of the object, as a Python dict appends new keys.
        CompactCopy(payload[position..layout.RootObjectEnd], output);
        var separator = layout.RootObjectEmpty ? ""u8 : ","u8;
        if (!layout.SegmentIdIsTruthy && layout.AttributesValue.Equals(default(Range)))
        {
            output.Write(separator);
            output.Write("\"attributes\":{\"sentry.segment.id\":"u8);
            output.Write(segmentIdObject);
            output.Write("}"u8);
            separator = ","u8;
        }

        if (layout.IsSegmentValue.Equals(default(Range)))
        {
            output.Write(separator);
            output.Write("\"is_segment\":"u8);
            output.Write(isSegmentLiteral);
        }

        output.Write("}"u8);
    }

    private static readonly SearchValues<byte> s_stringOrWhitespace = SearchValues.Create("\" \t\n\r"u8);
    private static readonly SearchValues<byte> s_stringEnd = SearchValues.Create("\"\\"u8);

    /// <summary>
    /// Copies JSON text, dropping whitespace outside strings (the text was validated by the reader). Runs of
    /// plain tokens and string contents are found with vectorized searches and copied in bulk.
    /// </summary>
    private static void CompactCopy(ReadOnlySpan<byte> json, IBufferWriter<byte> output)
    {
        var destination = output.GetSpan(json.Length);
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

        output.Advance(written);
    }

    private enum EditKind
    {
        IsSegmentValue,
        AttributesObject,
        SegmentIdValue,
        AppendSegmentId,
    }

    private readonly record struct Edit(Range Range, EditKind Kind);
}
