using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using SpanBuffer.Flush;
using SpanBuffer.Models;

namespace SpanBuffer.Tests.Fuzzing;

/// <summary>
/// Span.Parse on mutated ingest messages: it returns a sane span whose payload is the input, valid UTF-8 JSON that
/// the flush accepts, with the fields a last-key-wins decoder reads; or it throws InvalidSpanException. Nothing else.
/// </summary>
public sealed class SpanParseFuzzTests(ITestOutputHelper output)
{
    private static readonly JsonDocumentOptions s_parserDepth = new() { MaxDepth = 256 };

    [Fact]
    public void Parse_MutatedMessages_ReturnsASaneSpanOrThrowsInvalidSpanException()
    {
        int accepted = 0, rejected = 0;
        var cases = FuzzLoop.Run(TimeSpan.FromSeconds(2.5), 1_000_000, (random, name) =>
        {
            var input = Mutator.Mutate(random, Encoding.UTF8.GetBytes(SpanMessages.Create(random)));
            Span? span = null;
            var ex = Record.Exception(() => span = Span.Parse(input, partition: 3));
            if (ex is not null)
            {
                Check(ex is InvalidSpanException, () => $"{name}: {ex.GetType().Name} escaped Span.Parse: {ex}\ninput {Convert.ToHexString(input)}");
                rejected++;
                return;
            }

            Assert.Equal(3, span!.Partition);
            AssertSane(span, input, name);
            accepted++;
        });

        output.WriteLine($"{cases} cases in the budget: {accepted} accepted, {rejected} rejected (seed {FuzzLoop.Seed})");
        Assert.True(accepted > cases / 20 && rejected > cases / 20, $"the mutations should give both verdicts: {accepted} accepted, {rejected} rejected");
    }

    internal static void AssertSane(Span span, byte[] input, string name)
    {
        // Built only on failure.
        string Context() => $"{name}\ninput {Encoding.UTF8.GetString(input)}\nhex {Convert.ToHexString(input)}";
        Check(span.Payload.Span.SequenceEqual(input), () => $"payload is not the input: {Context()}");
        Check(Utf8.IsValid(input), () => $"accepted invalid UTF-8: {Context()}");
        foreach (var id in new[] { span.TraceId, span.SpanId, span.ParentSpanId, span.SegmentId })
        {
            Check(id is null || (id.Length > 0 && SpanIds.FindForbidden(id) is null), () => $"id '{id}' would break a key: {Context()}");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(input, s_parserDepth);
        }
        catch (JsonException ex)
        {
            throw new Xunit.Sdk.XunitException($"accepted what JsonDocument rejects ({ex.Message}): {Context()}");
        }

        using (document)
        {
            var root = document.RootElement;
            Check(root.ValueKind == JsonValueKind.Object, () => $"accepted a {root.ValueKind}: {Context()}");
            Check(Last(root, "trace_id")?.GetString() == span.TraceId, () => $"trace_id {span.TraceId}: {Context()}");
            Check(Last(root, "span_id")?.GetString() == span.SpanId, () => $"span_id {span.SpanId}: {Context()}");
            Check(Last(root, "project_id")?.GetInt64() == span.ProjectId, () => $"project_id {span.ProjectId}: {Context()}");
            var parent = Last(root, "parent_span_id") is { ValueKind: JsonValueKind.String } p ? p.GetString() : null;
            Check(parent == span.ParentSpanId, () => $"parent_span_id {span.ParentSpanId}: {Context()}");
            var isSegment = Last(root, "is_segment") is { ValueKind: JsonValueKind.True };
            Check(span.IsSegmentSpan == (parent is null || isSegment), () => $"is_segment_span: {Context()}");
            Check(ExpectedSegmentId(root) == span.SegmentId, () => $"segment id '{span.SegmentId}', expected '{ExpectedSegmentId(root)}': {Context()}");
        }

        // What ingest accepts the flush must not drop as an invalid payload.
        Check(SpanEnricher.TryScan(input, new SegmentIdentity(span.SpanId), out _), () => $"the flush scanner rejects what Span.Parse accepted: {Context()}");
    }

    private static void Check(bool condition, Func<string> message)
    {
        if (!condition)
        {
            throw new Xunit.Sdk.XunitException(message());
        }
    }

    /// <summary><c>attributes["sentry.segment.id"]["value"]</c> when a non-empty string, each key's last occurrence counting.</summary>
    private static string? ExpectedSegmentId(JsonElement root) =>
        Last(root, "attributes") is { ValueKind: JsonValueKind.Object } attributes
        && Last(attributes, "sentry.segment.id") is { ValueKind: JsonValueKind.Object } attribute
        && Last(attribute, "value") is { ValueKind: JsonValueKind.String } value
        && value.GetString() is { Length: > 0 } id
            ? id
            : null;

    /// <summary>The value of the last member called <paramref name="name"/>, as a dictionary-building decoder keeps it.</summary>
    private static JsonElement? Last(JsonElement element, string name)
    {
        JsonElement? last = null;
        foreach (var member in element.EnumerateObject())
        {
            if (NameIs(member, name))
            {
                last = member.Value;
            }
        }

        return last;
    }

    private static bool NameIs(JsonProperty member, string name)
    {
        try
        {
            return member.NameEquals(name);
        }
        catch (InvalidOperationException)
        {
            // A name with a lone surrogate escape does not decode, so it is none of the names looked for.
            return false;
        }
    }
}
