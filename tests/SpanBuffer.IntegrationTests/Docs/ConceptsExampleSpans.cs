using System.Text;
using SpanBuffer.Models;
using Span = SpanBuffer.Models.Span;

namespace SpanBuffer.IntegrationTests.Docs;

/// <summary>
/// The spans and keys of docs/concepts.md: project 42, trace <c>T</c>, partition 0, span ids <c>a000000000000001</c>,
/// <c>b000000000000002</c>, …, messages shaped like the README's quick start.
/// </summary>
internal static class ConceptsExampleSpans
{
    public const long Project = 42;

    public const string Trace = "5b8efff798038103d269b633813fc60c";

    /// <summary>The doc's span id written as a letter: <c>a</c> → <c>a000000000000001</c>, <c>e</c> → <c>e000000000000005</c>.</summary>
    public static string Id(char letter) => letter + (letter - 'a' + 1).ToString("x15", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The root (<c>is_segment: true</c>, no parent) named <paramref name="letter"/>.</summary>
    public static Span Root(char letter, int? bytes = null) => Parse(Message(Id(letter), parent: null, bytes));

    /// <summary>The child <paramref name="letter"/> of <paramref name="parent"/>.</summary>
    public static Span Child(char letter, char parent, int? bytes = null) => Parse(Message(Id(letter), Id(parent), bytes));

    /// <summary>A child with any span id, for examples that need more spans than letters.</summary>
    public static Span Child(string spanId, char parent) => Parse(Message(spanId, Id(parent), bytes: null));

    /// <summary>
    /// A quick-start message (a child is 266 bytes, a root 248); with a larger <paramref name="bytes"/>, padded to exactly
    /// that many bytes with a <c>description</c>.
    /// </summary>
    public static byte[] Message(string spanId, string? parent, int? bytes)
    {
        var ids = parent is null
            ? $"\"span_id\":\"{spanId}\",\"is_segment\":true"
            : $"\"span_id\":\"{spanId}\",\"parent_span_id\":\"{parent}\"";
        var core = $"{{\"organization_id\":1,\"project_id\":{Project},\"trace_id\":\"{Trace}\",{ids},\"start_timestamp\":1700000000.0,\"end_timestamp\":1700000001.5,\"received\":1700000002.0,\"retention_days\":90,\"status\":\"ok\"";
        if (bytes is not { } length || length == core.Length + 1)
        {
            return Encoding.ASCII.GetBytes(core + "}");
        }

        const string Field = ",\"description\":\"\"}";
        var padding = length - core.Length - Field.Length;
        if (padding < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"A message for '{spanId}' needs at least {core.Length + Field.Length} bytes.");
        }

        return Encoding.ASCII.GetBytes(core + ",\"description\":\"" + new string('x', padding) + "\"}");
    }

    /// <summary>The doc's <c>span-buf:s:{42:T}:&lt;root&gt;</c> under <paramref name="prefix"/>.</summary>
    public static string SegmentKey(string prefix, string root) => $"{prefix}:s:{{{Project}:{Trace}}}:{root}";

    /// <summary>The doc's <c>span-buf:q:0</c> under <paramref name="prefix"/>.</summary>
    public static string QueueKey(string prefix) => $"{prefix}:q:0";

    /// <summary>The payload set of a subsegment with <paramref name="salt"/>.</summary>
    public static string PayloadKey(string prefix, string salt) => $"{prefix}:s:{{{Project}:{Trace}:{salt}}}:{salt}";

    /// <summary>The span ids of a flushed segment, in the order the flush returned them.</summary>
    public static string[] SpanIds(FlushedSegment segment) => [.. segment.Spans.Select(span => span.SpanId)];

    /// <summary>The <c>is_segment</c> the flush wrote into the span's JSON (checked against <see cref="OutputSpan.IsSegment"/>).</summary>
    public static bool IsSegment(OutputSpan span)
    {
        using var json = span.ParseJson();
        var value = json.RootElement.GetProperty("is_segment").GetBoolean();
        Assert.Equal(value, span.IsSegment);
        return value;
    }

    /// <summary>The <c>attributes["sentry.segment.id"].value</c> the flush wrote into the span's JSON.</summary>
    public static string? SegmentId(OutputSpan span)
    {
        using var json = span.ParseJson();
        return json.RootElement.GetProperty("attributes").GetProperty("sentry.segment.id").GetProperty("value").GetString();
    }

    private static Span Parse(byte[] message) => Span.Parse(message, partition: 0);
}
