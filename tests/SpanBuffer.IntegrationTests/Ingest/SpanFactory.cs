using System.Text;
using System.Text.Json;
using SpanBuffer.Redis;
using Span = SpanBuffer.Models.Span;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>
/// Builds spans for the ingest tests. Payloads are <c>{"span_id":"&lt;id&gt;"}</c> padded with spaces before the
/// closing brace to an exact byte length, so byte counters are predictable and every stored payload says
/// which span it belongs to.
/// </summary>
internal static class SpanFactory
{
    public const long ProjectId = 1;

    public const string TraceId = "0123456789abcdef0123456789abcdef";

    /// <summary>The payload length of a 16-character span id with no padding: the reference's 30 bytes.</summary>
    public const int DefaultBytes = 30;

    private const string PayloadStart = "{\"span_id\":\"";

    /// <summary>Gets <c>1:&lt;TraceId&gt;</c>, the project-and-trace of the default trace.</summary>
    public static string ProjectAndTrace { get; } = KeySchema.ProjectAndTrace(ProjectId, TraceId);

    /// <summary>A 16-character span id of one repeated letter, as in the reference's salt test vectors.</summary>
    public static string Id(char letter) => new(letter, 16);

    /// <summary>A segment span without a parent (a root).</summary>
    public static Span Root(string id, int bytes = DefaultBytes, string traceId = TraceId, long projectId = ProjectId, int partition = 0) =>
        new(traceId, id, parentSpanId: null, segmentId: null, projectId, Payload(id, bytes), isSegmentSpan: true, partition);

    /// <summary>A non-segment span with a parent.</summary>
    public static Span Child(
        string id, string parent, int bytes = DefaultBytes, string traceId = TraceId, long projectId = ProjectId, int partition = 0, string? segmentId = null) =>
        new(traceId, id, parent, segmentId, projectId, Payload(id, bytes), isSegmentSpan: false, partition);

    /// <summary>A segment span that has a parent (a nested segment).</summary>
    public static Span NestedSegment(string id, string parent, int bytes = DefaultBytes, string traceId = TraceId, long projectId = ProjectId, int partition = 0) =>
        new(traceId, id, parent, segmentId: null, projectId, Payload(id, bytes), isSegmentSpan: true, partition);

    /// <summary>The payload of span <paramref name="id"/>, exactly <paramref name="bytes"/> long.</summary>
    public static byte[] Payload(string id, int bytes = DefaultBytes)
    {
        var core = PayloadStart + id + "\"";
        var padding = bytes - core.Length - 1;
        if (padding < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"A payload for '{id}' needs at least {core.Length + 1} bytes.");
        }

        return Encoding.ASCII.GetBytes(core + new string(' ', padding) + "}");
    }

    /// <summary>The span id a payload built by <see cref="Payload"/> carries.</summary>
    public static string SpanIdOf(ReadOnlyMemory<byte> payload)
    {
        using var document = JsonDocument.Parse(payload);
        return document.RootElement.GetProperty("span_id").GetString()
            ?? throw new InvalidOperationException("The payload's span_id is null.");
    }
}
