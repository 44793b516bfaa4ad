using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using CsCheck;
using SpanBuffer.Flush;
using SpanBuffer.Models;
using SpanBuffer.Tests.Oracles;

namespace SpanBuffer.Tests.Fuzzing;

/// <summary>
/// SegmentAssembler.BuildOne (scanner and enricher) on segments of valid, mutated and generated payloads: nothing
/// escapes, every payload is either a span out or an invalid payload counted, every span out is a valid UTF-8 JSON
/// object enriched for the segment, and each matches the Utf8JsonReader oracle where the oracle can decide.
/// </summary>
public sealed class SegmentBuildFuzzTests(ITestOutputHelper output)
{
    private static readonly string[] s_otherRoots = ["aaaaaaaaaaaaaaaa", "3106330ede3673ae78e9b017358c794a", "été", "a\"b", "😀", "a\\b"];

    private static readonly JsonDocumentOptions s_deep = new() { MaxDepth = 1024 };

    /// <summary>Payloads of <see cref="SpanPayloadGen"/>, drawn once from a fixed seed (a draw per case costs more than the case).</summary>
    private static readonly Lazy<byte[][]> s_generated = new(() =>
    {
        var payloads = new List<byte[]>();
        SpanPayloadGen.Cases.Sample(c => payloads.Add(c.Payload), seed: new PCG(7, 0x5EED_0002).ToString(), iter: 500, threads: 1);
        return [.. payloads];
    });

    [Fact]
    public void BuildOne_MutatedPayloads_EveryPayloadIsAValidSpanOrCountedInvalid()
    {
        _ = s_generated.Value;
        long payloadsIn = 0, spansOut = 0, invalid = 0, undecided = 0;
        var cases = FuzzLoop.Run(TimeSpan.FromSeconds(2.5), 1_000_000, (random, name) =>
        {
            var traceId = SpanMessages.Hex(random, 16);
            var root = random.Next(4) == 0 ? s_otherRoots[random.Next(s_otherRoots.Length)] : SpanMessages.Hex(random, 8);
            var payloads = new List<byte[]>();
            var count = random.Next(1, 13);
            for (var i = 0; i < count; i++)
            {
                payloads.Add(Payload(random, root, traceId));
            }

            var (built, undecidedHere) = AssertBuildsEveryPayload(payloads, root, traceId, name);
            payloadsIn += count;
            spansOut += built.Flushed.Spans.Count;
            invalid += built.InvalidPayloads;
            undecided += undecidedHere;
        });

        output.WriteLine($"{cases} segments in the budget (seed {FuzzLoop.Seed}): {payloadsIn} payloads, {spansOut} spans out, {invalid} invalid, {undecided} left to the scanner's verdict");
        Assert.True(spansOut > payloadsIn / 10 && invalid > payloadsIn / 10, "the payloads should give both verdicts");
    }

    /// <summary>Builds one segment of <paramref name="payloads"/> and checks it; returns it with the number of payloads only the scanner could judge.</summary>
    internal static (BuiltSegment Built, int Undecided) AssertBuildsEveryPayload(List<byte[]> payloads, string root, string traceId, string name)
    {
        var count = payloads.Count;
        var undecided = 0;
        var loaded = new LoadedSegment(
            new FlushCandidate(0, "span-buf:q:0", $"span-buf:s:{{1:{traceId}}}:{root}", 10),
            [.. payloads.Select(p => (ReadOnlyMemory<byte>)p)],
            ["k"],
            new SegmentIngestMetadata(count, null));
        BuiltSegment? built = null;
        var ex = Record.Exception(() => built = SegmentAssembler.BuildOne(loaded));
        // Built only on failure: hex of every payload is costly next to a case.
        string Context() => $"{name}\nroot {root}\npayloads:\n{string.Join("\n", payloads.Select(p => Convert.ToHexString(p)))}";
        Check(ex is null, () => $"{ex?.GetType().Name} escaped BuildOne: {ex}\n{Context()}");

        var spans = built!.Flushed.Spans;
        Check(spans.Count + built.InvalidPayloads == count, () => $"{count} in, {spans.Count} out, {built.InvalidPayloads} invalid: {Context()}");

        var next = 0;
        var identity = new SegmentIdentity(root);
        foreach (var payload in payloads)
        {
            var verdict = Oracle(payload, identity, out var expected, out var expectedSpanId, out var expectedIsSegment);
            if (verdict is null)
            {
                // The oracle threw on a name it could not decode; the scanner reads it as another name. Follow the
                // scanner's verdict, still checking what it wrote.
                undecided++;
                verdict = SpanEnricher.TryScan(payload, identity, out _);
            }

            if (verdict == false)
            {
                continue;
            }

            Check(next < spans.Count, () => $"payload {Convert.ToHexString(payload)} is valid but was not output: {Context()}");
            var span = spans[next++];
            AssertEnriched(span, root, () => $"{Context()}\noutput {Encoding.UTF8.GetString(span.Json.Span)}");
            if (expected is not null)
            {
                Check(
                    expected.AsSpan().SequenceEqual(span.Json.Span) && expectedSpanId == span.SpanId && expectedIsSegment == span.IsSegment,
                    () => $"differs from the oracle, which wrote {Encoding.UTF8.GetString(expected)} ({expectedSpanId}, {expectedIsSegment}): {Context()}\noutput {Encoding.UTF8.GetString(span.Json.Span)}");
            }
        }

        Check(next == spans.Count, () => $"{spans.Count - next} spans out for no valid payload: {Context()}");

        return (built, undecided);
    }

    private static byte[] Payload(Random random, string root, string traceId)
    {
        switch (random.Next(10))
        {
            case < 3:
                return Encoding.UTF8.GetBytes(SpanMessages.Create(random, random.Next(3) == 0 ? root : null, traceId));
            case < 8:
                return Mutator.Mutate(random, Encoding.UTF8.GetBytes(SpanMessages.Create(random, random.Next(3) == 0 ? root : null, traceId)));
            default:
                // The enricher tests' generator: span-like JSON with escapes, duplicates, deep nesting and typed values.
                var generated = s_generated.Value;
                var pick = generated[random.Next(generated.Length)];
                return random.Next(2) == 0 ? pick : Mutator.Mutate(random, pick);
        }
    }

    /// <summary>The oracle's verdict and output for valid UTF-8 (it does not check UTF-8 itself); null when it throws.</summary>
    private static bool? Oracle(byte[] payload, SegmentIdentity identity, out byte[]? expected, out string? spanId, out bool isSegment)
    {
        expected = null;
        spanId = null;
        isSegment = false;
        if (!Utf8.IsValid(payload))
        {
            return false;
        }

        var writer = new ArrayBufferWriter<byte>();
        try
        {
            if (!Utf8JsonReaderSpanEnricher.TryEnrich(payload, identity, writer, out var id, out isSegment))
            {
                return false;
            }

            spanId = id;
        }
        catch (InvalidOperationException)
        {
            return null;
        }

        expected = writer.WrittenSpan.ToArray();
        return true;
    }

    private static void Check(bool condition, Func<string> message)
    {
        if (!condition)
        {
            throw new Xunit.Sdk.XunitException(message());
        }
    }

    private static void AssertEnriched(OutputSpan span, string root, Func<string> context)
    {
        Check(Utf8.IsValid(span.Json.Span), () => $"output is not valid UTF-8: {context()}");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(span.Json, s_deep);
        }
        catch (JsonException ex)
        {
            throw new Xunit.Sdk.XunitException($"output is not JSON ({ex.Message}): {context()}");
        }

        using (document)
        {
            var element = document.RootElement;
            Check(element.ValueKind == JsonValueKind.Object, () => $"output is a {element.ValueKind}: {context()}");
            Check(span.IsSegment == (span.SpanId == root), () => $"is_segment {span.IsSegment} for span {span.SpanId}: {context()}");
            var isSegment = Last(element, "is_segment");
            Check(isSegment?.ValueKind == (span.IsSegment ? JsonValueKind.True : JsonValueKind.False), () => $"is_segment member: {context()}");
            Check(
                Last(element, "attributes") is { ValueKind: JsonValueKind.Object } attributes && Last(attributes, "sentry.segment.id") is not null,
                () => $"no attributes[\"sentry.segment.id\"]: {context()}");
        }
    }

    private static JsonElement? Last(JsonElement element, string name)
    {
        JsonElement? last = null;
        foreach (var member in element.EnumerateObject())
        {
            bool matches;
            try
            {
                matches = member.NameEquals(name);
            }
            catch (InvalidOperationException)
            {
                matches = false;
            }

            if (matches)
            {
                last = member.Value;
            }
        }

        return last;
    }
}
