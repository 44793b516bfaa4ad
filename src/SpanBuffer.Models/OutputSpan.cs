using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace SpanBuffer.Models;

/// <summary>
/// One span of a flushed segment: compact JSON with the segment enrichment applied. The flush builds these without
/// copying or checking anything; a host that builds its own (to test a sink, or to send spans it holds) uses
/// <see cref="FromJson(ReadOnlyMemory{byte})"/>, which validates the JSON, compacts it and reads the ids from it.
/// </summary>
/// <param name="Json">The span's compact JSON bytes (one JSON object), written into messages as they are.</param>
/// <param name="SpanId">The span's id (used to clean up its redirect).</param>
/// <param name="IsSegment">Whether this span is the segment's root.</param>
/// <remarks>
/// The constructor does not validate its arguments (it is the flush's hot path); messages built from spans whose
/// <paramref name="Json"/> is not a JSON object are not valid JSON. The readers (<see cref="ToJsonString"/>,
/// <see cref="ParseJson"/>, <see cref="CreateJsonReader"/>) work on <see cref="Json"/> on demand and keep nothing.
/// </remarks>
public sealed record OutputSpan(ReadOnlyMemory<byte> Json, string SpanId, bool IsSegment)
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Creates a span from its JSON: one JSON object with a string <c>span_id</c> and, optionally, a boolean (or null)
    /// <c>is_segment</c> (a key given more than once: the last counts). Insignificant whitespace is removed; the bytes
    /// of every token are kept as they are (no re-escaping). The input is used without a copy when it is compact already.
    /// </summary>
    /// <param name="json">The span's UTF-8 JSON.</param>
    /// <returns>The span, with <see cref="SpanId"/> and <see cref="IsSegment"/> read from the JSON.</returns>
    /// <exception cref="InvalidSpanException">
    /// The input is not valid UTF-8, not exactly one JSON object, or its <c>span_id</c> is missing, not a string, empty or
    /// holds a brace, a colon or whitespace, or its <c>is_segment</c> is not a boolean; <see cref="InvalidSpanException.Field"/>
    /// names the field (<c>json</c> for the document itself).
    /// </exception>
    public static OutputSpan FromJson(ReadOnlyMemory<byte> json)
    {
        if (json.Span.StartsWith("\uFEFF"u8))
        {
            json = json[3..]; // a byte order mark has no place inside a message
        }

        var bytes = json.Span;
        if (!Utf8.IsValid(bytes))
        {
            throw new InvalidSpanException("json", "is not valid UTF-8.");
        }

        var (spanId, isSegment) = ReadIds(bytes);
        return new OutputSpan(Compact(json), spanId, isSegment);
    }

    /// <summary>Creates a span from its JSON text; see <see cref="FromJson(ReadOnlyMemory{byte})"/>.</summary>
    /// <param name="json">The span's JSON.</param>
    /// <returns>The span, with <see cref="SpanId"/> and <see cref="IsSegment"/> read from the JSON.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="json"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidSpanException">
    /// The text holds a lone surrogate, or it is not a span as <see cref="FromJson(ReadOnlyMemory{byte})"/> requires.
    /// </exception>
    public static OutputSpan FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        byte[] bytes;
        try
        {
            bytes = s_strictUtf8.GetBytes(json);
        }
        catch (EncoderFallbackException ex)
        {
            throw new InvalidSpanException("json", "holds a lone surrogate, which has no UTF-8 form.", ex);
        }

        return FromJson(bytes);
    }

    /// <summary>Decodes <see cref="Json"/> into a new string (computed on every call).</summary>
    /// <returns>The span's JSON text.</returns>
    public string ToJsonString() => Encoding.UTF8.GetString(Json.Span);

    /// <summary>Parses <see cref="Json"/> into a new <see cref="JsonDocument"/>, which the caller disposes.</summary>
    /// <returns>The parsed span.</returns>
    /// <exception cref="JsonException"><see cref="Json"/> is not valid JSON (only possible for a span built with the constructor).</exception>
    public JsonDocument ParseJson() => JsonDocument.Parse(Json);

    /// <summary>Creates a reader over <see cref="Json"/>, positioned before its first token; nothing is copied.</summary>
    /// <returns>A reader of the span's JSON.</returns>
    public Utf8JsonReader CreateJsonReader() => new(Json.Span);

    private static (string SpanId, bool IsSegment) ReadIds(ReadOnlySpan<byte> json)
    {
        string? spanId = null;
        var isSegment = false;
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new InvalidSpanException("json", "must be a JSON object.");
            }

            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1)
                {
                    var isSpanId = reader.ValueTextEquals("span_id"u8);
                    var isSegmentFlag = !isSpanId && reader.ValueTextEquals("is_segment"u8);
                    reader.Read();
                    if (isSpanId)
                    {
                        spanId = reader.TokenType == JsonTokenType.String
                            ? reader.GetString()
                            : throw new InvalidSpanException("span_id", "must be a string.");
                    }
                    else if (isSegmentFlag)
                    {
                        isSegment = reader.TokenType switch
                        {
                            JsonTokenType.True => true,
                            JsonTokenType.False or JsonTokenType.Null => false,
                            _ => throw new InvalidSpanException("is_segment", "must be true, false or null."),
                        };
                    }

                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    {
                        reader.Skip();
                    }
                }
            }
        }
        catch (JsonException ex)
        {
            throw new InvalidSpanException("json", $"is not valid JSON: {ex.Message}", ex);
        }

        if (spanId is null)
        {
            throw new InvalidSpanException("span_id", "is missing.");
        }

        SpanIds.Validate(spanId, "span_id");
        return (spanId, isSegment);
    }

    /// <summary>Removes whitespace outside strings (the input is valid JSON); returns the input itself when it has none.</summary>
    private static ReadOnlyMemory<byte> Compact(ReadOnlyMemory<byte> json)
    {
        var bytes = json.Span;
        var first = FirstInsignificantWhitespace(bytes);
        if (first < 0)
        {
            return json;
        }

        var compact = new byte[bytes.Length];
        bytes[..first].CopyTo(compact);
        var length = first;
        var inString = false;
        for (var i = first; i < bytes.Length; i++)
        {
            var b = bytes[i];
            if (inString)
            {
                compact[length++] = b;
                if (b == (byte)'\\')
                {
                    compact[length++] = bytes[++i];
                }
                else if (b == (byte)'"')
                {
                    inString = false;
                }
            }
            else if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                compact[length++] = b;
                inString = b == (byte)'"';
            }
        }

        return compact.AsMemory(0, length);
    }

    private static int FirstInsignificantWhitespace(ReadOnlySpan<byte> json)
    {
        var inString = false;
        for (var i = 0; i < json.Length; i++)
        {
            var b = json[i];
            if (inString)
            {
                if (b == (byte)'\\')
                {
                    i++;
                }
                else if (b == (byte)'"')
                {
                    inString = false;
                }
            }
            else if (b == (byte)'"')
            {
                inString = true;
            }
            else if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
            {
                return i;
            }
        }

        return -1;
    }
}
