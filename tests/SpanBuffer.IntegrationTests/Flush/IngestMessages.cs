using System.Globalization;
using System.Text;
using System.Text.Json;
using SpanBuffer.Models;

namespace SpanBuffer.IntegrationTests.Flush;

/// <summary>
/// Realistic ingest messages (the fields of reference §1.3 plus fields the buffer does not know, which must
/// survive the round trip byte for byte), parsed with <see cref="Span.Parse"/> as the consumer would.
/// </summary>
internal static class IngestMessages
{
    /// <summary>A fresh 32-hex trace id, so tests never share a trace.</summary>
    public static string NewTraceId() => Guid.NewGuid().ToString("N");

    /// <summary>A 16-hex span id made of one repeated character, as in the reference's worked examples.</summary>
    public static string Id(char c) => new(c, 16);

    /// <summary>
    /// The compact JSON of one ingest message. <paramref name="parentSpanId"/> null writes <c>"parent_span_id":null</c>
    /// (a root); <paramref name="isSegment"/> null leaves <c>is_segment</c> out; <paramref name="segmentId"/> adds
    /// <c>attributes["sentry.segment.id"]</c>.
    /// </summary>
    public static byte[] Json(
        string traceId,
        string spanId,
        string? parentSpanId,
        long projectId = 1,
        bool? isSegment = null,
        string? segmentId = null)
    {
        var parent = parentSpanId is null ? "null" : Quote(parentSpanId);
        var isSegmentMember = isSegment is { } flag ? $",\"is_segment\":{(flag ? "true" : "false")}" : string.Empty;
        var segmentIdAttribute = segmentId is null
            ? string.Empty
            : $",\"sentry.segment.id\":{{\"type\":\"string\",\"value\":{Quote(segmentId)}}}";
        var json = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"{{\"organization_id\":4711,\"project_id\":{projectId},\"trace_id\":{Quote(traceId)}")
            .Append(CultureInfo.InvariantCulture, $",\"span_id\":{Quote(spanId)},\"parent_span_id\":{parent}")
            .Append(",\"start_timestamp\":1700000000.125,\"end_timestamp\":1700000000.5,\"received\":1700000001.25")
            .Append(",\"retention_days\":90,\"status\":\"ok\",\"description\":\"Grüße aus Köln\"")
            .Append(",\"name\":\"GET /api/0/caf\\u00e9/\\\"").Append(spanId).Append("\\\"\"")
            .Append(isSegmentMember)
            .Append(",\"attributes\":{\"sentry.op\":{\"type\":\"string\",\"value\":\"http.server\"}")
            .Append(",\"sentry.environment\":{\"type\":\"string\",\"value\":\"prod\"}").Append(segmentIdAttribute).Append('}')
            .Append(",\"links\":[{\"trace_id\":").Append(Quote(traceId)).Append(",\"span_id\":\"0000000000000001\",\"sampled\":true,\"attributes\":null}]")
            .Append(",\"_meta\":{\"name\":{\"\":{\"rem\":[[\"@password\",\"s\",0,4]]}}}")
            .Append(",\"x_unknown\":{\"nested\":[1,-2.5e-3,\"zwei\",null,true,{\"deep\":{}}],\"empty\":[]}")
            .Append(",\"downsampled_retention_days\":30}")
            .ToString();
        return Encoding.UTF8.GetBytes(json);
    }

    /// <summary>Parses <see cref="Json"/> the way the consumer does.</summary>
    public static Span Create(
        string traceId,
        string spanId,
        string? parentSpanId,
        long projectId = 1,
        bool? isSegment = null,
        string? segmentId = null,
        int partition = 0) =>
        Span.Parse(Json(traceId, spanId, parentSpanId, projectId, isSegment, segmentId), partition);

    /// <summary>Parses JSON into an element that owns its memory.</summary>
    public static JsonElement Parse(ReadOnlyMemory<byte> json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static string Quote(string value) => JsonSerializer.Serialize(value);
}
