using System.Text.Json;

namespace SpanBuffer.Models;

/// <summary>
/// Reads the fields the buffer needs from an ingest message, enforcing the decoder's required fields and
/// types, without building a DOM: the payload is kept as the original bytes.
/// </summary>
internal static class SpanMessageParser
{
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
            var name = reader.GetString()!;
            reader.Read();
            switch (name)
            {
                case "organization_id":
                    ReadInteger(ref reader, name);
                    seen |= Seen.OrganizationId;
                    break;
                case "project_id":
                    projectId = ReadInteger(ref reader, name);
                    seen |= Seen.ProjectId;
                    break;
                case "retention_days":
                    ReadInteger(ref reader, name);
                    seen |= Seen.RetentionDays;
                    break;
                case "trace_id":
                    traceId = ReadString(ref reader, name);
                    seen |= Seen.TraceId;
                    break;
                case "span_id":
                    spanId = ReadString(ref reader, name);
                    seen |= Seen.SpanId;
                    break;
                case "status":
                    ReadString(ref reader, name);
                    seen |= Seen.Status;
                    break;
                case "start_timestamp":
                    RequireNumber(ref reader, name);
                    seen |= Seen.StartTimestamp;
                    break;
                case "end_timestamp":
                    RequireNumber(ref reader, name);
                    seen |= Seen.EndTimestamp;
                    break;
                case "received":
                    RequireNumber(ref reader, name);
                    seen |= Seen.Received;
                    break;
                case "parent_span_id":
                    parentSpanId = reader.TokenType == JsonTokenType.Null ? null : ReadString(ref reader, name);
                    break;
                case "is_segment":
                    isSegment = reader.TokenType switch
                    {
                        JsonTokenType.True => true,
                        JsonTokenType.False or JsonTokenType.Null => false,
                        _ => throw new InvalidSpanException(name, "must be a boolean or null."),
                    };
                    break;
                case "attributes":
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
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new InvalidSpanException(field, "must be a string.");
        }

        return reader.GetString()!;
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
            var isSegmentIdAttribute = reader.ValueTextEquals("sentry.segment.id"u8);
            reader.Read();
            if (!isSegmentIdAttribute || reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }

            segmentId = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isValue = reader.ValueTextEquals("value"u8);
                reader.Read();
                if (!isValue)
                {
                    reader.Skip();
                    continue;
                }

                segmentId = reader.TokenType switch
                {
                    JsonTokenType.String => reader.GetString() is { Length: > 0 } s ? s : null,
                    JsonTokenType.Null or JsonTokenType.False => null,
                    _ => throw new InvalidSpanException("sentry.segment.id", "attribute value must be a string."),
                };
            }
        }

        return segmentId;
    }
}
