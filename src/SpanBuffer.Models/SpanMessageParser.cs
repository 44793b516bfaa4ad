using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace SpanBuffer.Models;

/// <summary>
/// Reads the fields the buffer needs from an ingest message, enforcing the decoder's required fields and
/// types, without building a DOM: the payload is kept as the original bytes.
/// </summary>
/// <remarks>
/// The whole message must be valid UTF-8: <c>Utf8JsonReader</c> does not check it inside strings it is not asked
/// to decode, and a payload accepted here with a bad byte would only be dropped at flush. Escapes are decoded only
/// for the names and values read; a <c>\u</c> escape of a lone surrogate is valid JSON text, so in a name it is
/// simply a name the parser does not read, while in a value it must decode it makes the message invalid.
/// </remarks>
internal static class SpanMessageParser
{
    /// <summary>The top-level members the parser reads.</summary>
    private enum Member
    {
        Other,
        OrganizationId,
        ProjectId,
        RetentionDays,
        TraceId,
        SpanId,
        Status,
        StartTimestamp,
        EndTimestamp,
        Received,
        ParentSpanId,
        IsSegment,
        Attributes,
    }

    /// <summary>The longest escaped spelling of a member name read (<c>sentry.segment.id</c>): every character as a six-byte <c>\uXXXX</c>.</summary>
    private const int MaxEscapedNameLength = 17 * 6;

    [Flags]
    private enum Seen
    {
        None = 0,
        OrganizationId = 1 << 0,
        ProjectId = 1 << 1,
        TraceId = 1 << 2,
        SpanId = 1 << 3,
        StartTimestamp = 1 << 4,
        EndTimestamp = 1 << 5,
        Received = 1 << 6,
        RetentionDays = 1 << 7,
        Status = 1 << 8,
        AllRequired = (1 << 9) - 1,
    }

    private static readonly (Seen Flag, string Name)[] s_required =
    [
        (Seen.OrganizationId, "organization_id"),
        (Seen.ProjectId, "project_id"),
        (Seen.TraceId, "trace_id"),
        (Seen.SpanId, "span_id"),
        (Seen.StartTimestamp, "start_timestamp"),
        (Seen.EndTimestamp, "end_timestamp"),
        (Seen.Received, "received"),
        (Seen.RetentionDays, "retention_days"),
        (Seen.Status, "status"),
    ];

    public static Span Parse(ReadOnlyMemory<byte> message, int partition)
    {
        // Vectorized and cheap next to the parse (mostly ASCII messages are checked many bytes at a time).
        if (!Utf8.IsValid(message.Span))
        {
            throw InvalidUtf8(message.Span);
        }

        try
        {
            return ParseCore(message, partition);
        }
        catch (JsonException ex)
        {
            throw new InvalidSpanException("$", "the message is not valid JSON: " + ex.Message, ex);
        }
    }

    private static Span ParseCore(ReadOnlyMemory<byte> message, int partition)
    {
        var reader = new Utf8JsonReader(message.Span, new JsonReaderOptions { MaxDepth = 256 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new InvalidSpanException("$", "the message must be a JSON object.");
        }

        var seen = Seen.None;
        long projectId = 0;
        string? traceId = null, spanId = null, parentSpanId = null, segmentId = null;
        var isSegment = false;

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var member = ReadMember(ref reader);
            reader.Read();
            switch (member)
            {
                case Member.OrganizationId:
                    ReadInteger(ref reader, "organization_id");
                    seen |= Seen.OrganizationId;
                    break;
                case Member.ProjectId:
                    projectId = ReadInteger(ref reader, "project_id");
                    seen |= Seen.ProjectId;
                    break;
                case Member.RetentionDays:
                    ReadInteger(ref reader, "retention_days");
                    seen |= Seen.RetentionDays;
                    break;
                case Member.TraceId:
                    traceId = ReadString(ref reader, "trace_id");
                    seen |= Seen.TraceId;
                    break;
                case Member.SpanId:
                    spanId = ReadString(ref reader, "span_id");
                    seen |= Seen.SpanId;
                    break;
                case Member.Status:
                    RequireString(ref reader, "status");
                    seen |= Seen.Status;
                    break;
                case Member.StartTimestamp:
                    RequireNumber(ref reader, "start_timestamp");
                    seen |= Seen.StartTimestamp;
                    break;
                case Member.EndTimestamp:
                    RequireNumber(ref reader, "end_timestamp");
                    seen |= Seen.EndTimestamp;
                    break;
                case Member.Received:
                    RequireNumber(ref reader, "received");
                    seen |= Seen.Received;
                    break;
                case Member.ParentSpanId:
                    parentSpanId = reader.TokenType == JsonTokenType.Null ? null : ReadString(ref reader, "parent_span_id");
                    break;
                case Member.IsSegment:
                    isSegment = reader.TokenType switch
                    {
                        JsonTokenType.True => true,
                        JsonTokenType.False or JsonTokenType.Null => false,
                        _ => throw new InvalidSpanException("is_segment", "must be a boolean or null."),
                    };
                    break;
                case Member.Attributes:
                    segmentId = ReadSegmentId(ref reader);
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        // Only whitespace may follow the object: Read() returns false at the end and throws on anything else.
        if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
        {
            throw new InvalidSpanException("$", "the message must be exactly one JSON object.");
        }

        if (seen != Seen.AllRequired)
        {
            foreach (var (flag, field) in s_required)
            {
                if ((seen & flag) == 0)
                {
                    throw new InvalidSpanException(field, "is required.");
                }
            }
        }

        // A span without a parent is the root of its segment whatever its is_segment flag says.
        var isSegmentSpan = parentSpanId is null || isSegment;
        return new Span(traceId!, spanId!, parentSpanId, segmentId, projectId, message, isSegmentSpan, partition);
    }

    /// <summary>Names the member whose name the reader is on, without allocating: names are compared as UTF-8 bytes.</summary>
    private static Member ReadMember(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return Classify(reader.ValueSpan);
        }

        var escaped = reader.ValueSpan;
        if (escaped.Length > MaxEscapedNameLength)
        {
            return Member.Other;
        }

        // Unescaping never lengthens the text.
        Span<byte> unescaped = stackalloc byte[MaxEscapedNameLength];
        return TryUnescape(ref reader, unescaped, out var written) ? Classify(unescaped[..written]) : Member.Other;
    }

    /// <summary>
    /// Compares the name the reader is on with <paramref name="expected"/> after unescaping, as
    /// <c>ValueTextEquals</c> does, except that a name that does not decode (a lone surrogate escape) is simply
    /// another name: <c>ValueTextEquals</c> throws <see cref="InvalidOperationException"/> for it.
    /// </summary>
    private static bool NameEquals(ref Utf8JsonReader reader, ReadOnlySpan<byte> expected)
    {
        if (!reader.ValueIsEscaped)
        {
            return reader.ValueSpan.SequenceEqual(expected);
        }

        if (reader.ValueSpan.Length < expected.Length || reader.ValueSpan.Length > MaxEscapedNameLength)
        {
            return false;
        }

        Span<byte> unescaped = stackalloc byte[MaxEscapedNameLength];
        return TryUnescape(ref reader, unescaped, out var written) && unescaped[..written].SequenceEqual(expected);
    }

    private static Member Classify(ReadOnlySpan<byte> name) => name.Length switch
    {
        6 when name.SequenceEqual("status"u8) => Member.Status,
        7 when name.SequenceEqual("span_id"u8) => Member.SpanId,
        8 when name.SequenceEqual("trace_id"u8) => Member.TraceId,
        8 when name.SequenceEqual("received"u8) => Member.Received,
        10 when name.SequenceEqual("project_id"u8) => Member.ProjectId,
        10 when name.SequenceEqual("is_segment"u8) => Member.IsSegment,
        10 when name.SequenceEqual("attributes"u8) => Member.Attributes,
        13 when name.SequenceEqual("end_timestamp"u8) => Member.EndTimestamp,
        14 when name.SequenceEqual("retention_days"u8) => Member.RetentionDays,
        14 when name.SequenceEqual("parent_span_id"u8) => Member.ParentSpanId,
        15 when name.SequenceEqual("organization_id"u8) => Member.OrganizationId,
        15 when name.SequenceEqual("start_timestamp"u8) => Member.StartTimestamp,
        _ => Member.Other,
    };

    /// <summary>Unescapes the current name or string; false when an escape is a lone surrogate, which has no UTF-8 form.</summary>
    private static bool TryUnescape(ref Utf8JsonReader reader, scoped Span<byte> destination, out int written)
    {
        try
        {
            written = reader.CopyString(destination);
            return true;
        }
        catch (InvalidOperationException)
        {
            written = 0;
            return false;
        }
    }

    private static long ReadInteger(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var value))
        {
            throw new InvalidSpanException(field, "must be an integer.");
        }

        return value;
    }

    private static void RequireNumber(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType != JsonTokenType.Number)
        {
            throw new InvalidSpanException(field, "must be a number.");
        }
    }

    private static string ReadString(ref Utf8JsonReader reader, string field)
    {
        RequireStringToken(ref reader, field);
        return DecodeString(ref reader, field);
    }

    /// <summary>Checks a string field that is not kept: it must be a string that decodes, as the decoder reads it.</summary>
    private static void RequireString(ref Utf8JsonReader reader, string field)
    {
        RequireStringToken(ref reader, field);
        if (reader.ValueIsEscaped)
        {
            DecodeString(ref reader, field);
        }
    }

    private static void RequireStringToken(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new InvalidSpanException(field, "must be a string.");
        }
    }

    /// <summary>Decodes the current string; the message is valid UTF-8, so only a lone surrogate escape can fail.</summary>
    private static string DecodeString(ref Utf8JsonReader reader, string field)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException ex)
        {
            throw new InvalidSpanException(field, "must be a valid string (it contains an escaped lone surrogate).", ex);
        }
    }

    private static InvalidSpanException InvalidUtf8(ReadOnlySpan<byte> message)
    {
        var offset = 0;
        while (Rune.DecodeFromUtf8(message[offset..], out _, out var consumed) == OperationStatus.Done)
        {
            offset += consumed;
        }

        return new InvalidSpanException("$", $"the message is not valid UTF-8 (an invalid byte sequence starts at offset {offset}).");
    }

    /// <summary>Reads <c>attributes["sentry.segment.id"].value</c> when present and truthy.</summary>
    private static string? ReadSegmentId(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return null;
        }

        string? segmentId = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isSegmentIdAttribute = NameEquals(ref reader, "sentry.segment.id"u8);
            reader.Read();
            if (!isSegmentIdAttribute || reader.TokenType != JsonTokenType.StartObject)
            {
                // A later sentry.segment.id that is not an object replaces an earlier one: the last occurrence counts.
                segmentId = isSegmentIdAttribute ? null : segmentId;
                reader.Skip();
                continue;
            }

            segmentId = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isValue = NameEquals(ref reader, "value"u8);
                reader.Read();
                if (!isValue)
                {
                    reader.Skip();
                    continue;
                }

                segmentId = reader.TokenType switch
                {
                    JsonTokenType.String => DecodeString(ref reader, "sentry.segment.id") is { Length: > 0 } s ? s : null,
                    JsonTokenType.Null or JsonTokenType.False => null,
                    _ => throw new InvalidSpanException("sentry.segment.id", "attribute value must be a string."),
                };
            }
        }

        return segmentId;
    }
}
