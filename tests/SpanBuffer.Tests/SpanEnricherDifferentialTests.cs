using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;
using System.Text.Unicode;
using CsCheck;
using SpanBuffer.Flush;
using SpanBuffer.Tests.Oracles;

namespace SpanBuffer.Tests;

/// <summary>
/// <see cref="SpanEnricher"/> against the Utf8JsonReader implementation it replaced, on generated span payloads and
/// byte-level mutations of them.
/// </summary>
public sealed partial class SpanEnricherDifferentialTests
{
    private const int CaseCount = 4000;

    /// <summary>
    /// Case <c>i</c> is generated from PCG stream <c>i</c> of this seed, so every run tests the same inputs; a failure
    /// names the case's CsCheck seed, which replays (and shrinks) it on its own.
    /// </summary>
    private const ulong Seed = 0x5EED_0001;

    [Fact]
    public void TryEnrich_GeneratedPayloads_MatchTheUtf8JsonReaderOracle()
    {
        var accepted = 0;
        for (uint i = 0; i < CaseCount; i++)
        {
            var seed = new PCG(i, Seed).ToString();
            SpanPayloadGen.Cases.Sample(c => { accepted += AssertMatchesOracle(c) ? 1 : 0; }, seed: seed, iter: 1, threads: 1);
        }

        // The generator is only useful if it exercises both verdicts substantially.
        Assert.InRange(accepted, CaseCount / 4, CaseCount * 3 / 4);
    }

    private static bool AssertMatchesOracle(EnrichmentCase testCase)
    {
        var identity = new SegmentIdentity(testCase.RootId);
        var isValidUtf8 = Utf8.IsValid(testCase.Payload);
        var actual = new ArrayBufferWriter<byte>();
        var actualOk = SpanEnricher.TryEnrich(testCase.Payload, identity, actual, out var actualSpanId, out var actualIsSegment);
        var scanned = SpanEnricher.TryScan(testCase.Payload, identity, out var layout);
        Assert.Equal(actualOk, scanned);
        if (!isValidUtf8)
        {
            Assert.False(actualOk, "accepted invalid UTF-8");
        }

        var expected = new ArrayBufferWriter<byte>();
        bool expectedOk;
        string expectedSpanId;
        bool expectedIsSegment;
        try
        {
            expectedOk = Utf8JsonReaderSpanEnricher.TryEnrich(testCase.Payload, identity, expected, out expectedSpanId, out expectedIsSegment);
        }
        catch (InvalidOperationException)
        {
            // The reader validated the JSON but could not decode a string it compared or read (a lone surrogate escape,
            // or invalid UTF-8 in span_id) and threw past the old code's JsonException handler. The scanner reads such a
            // member name as some other name and rejects such a span_id (SpanEnricherTests pins both); it must not throw.
            Assert.True(!isValidUtf8 || LoneSurrogateEscape().IsMatch(Encoding.UTF8.GetString(testCase.Payload)), "the oracle threw for another reason");
            return actualOk;
        }

        Assert.Equal(expectedOk && isValidUtf8, actualOk);
        if (!actualOk)
        {
            Assert.Equal(0, actual.WrittenCount);
            return false;
        }

        Assert.Equal(Encoding.UTF8.GetString(expected.WrittenSpan), Encoding.UTF8.GetString(actual.WrittenSpan));
        Assert.True(expected.WrittenSpan.SequenceEqual(actual.WrittenSpan));
        Assert.Equal(expectedSpanId, actualSpanId);
        Assert.Equal(expectedIsSegment, actualIsSegment);

        // The scan sizes the output exactly: the write fills precisely that many bytes and touches nothing after them.
        Assert.Equal(actual.WrittenCount, layout.Length);
        var exact = new byte[layout.Length + 8];
        exact.AsSpan(layout.Length).Fill(0xA5);
        Assert.Equal(layout.Length, SpanEnricher.Write(testCase.Payload, identity, layout, exact));
        Assert.True(exact.AsSpan(0, layout.Length).SequenceEqual(actual.WrittenSpan));
        Assert.True(exact.AsSpan(layout.Length).IndexOfAnyExcept((byte)0xA5) < 0);
        Assert.Equal(actualSpanId, layout.SpanId);
        Assert.Equal(actualIsSegment, layout.IsSegment);
        return true;
    }

    [GeneratedRegex(@"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")]
    private static partial Regex LoneSurrogateEscape();
}
