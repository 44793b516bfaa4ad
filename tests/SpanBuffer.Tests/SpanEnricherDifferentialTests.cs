using System.Buffers;
using System.Text;
using CsCheck;
using SpanBuffer.Flush;
using SpanBuffer.Tests.Oracles;

namespace SpanBuffer.Tests;

/// <summary>
/// <see cref="SpanEnricher"/> against the Utf8JsonReader implementation it replaced, on generated span payloads and
/// byte-level mutations of them.
/// </summary>
public sealed class SpanEnricherDifferentialTests
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
            // The reader validated the JSON but could not decode a string as UTF-16 (lone surrogate escape, or invalid
            // UTF-8 in span_id): the old code let that escape; there is nothing to compare with.
            return false;
        }

        if (!System.Text.Unicode.Utf8.IsValid(testCase.Payload))
        {
            // The oracle lets invalid UTF-8 inside strings through; the scanner will reject it.
            return false;
        }

        var actual = new ArrayBufferWriter<byte>();
        var actualOk = SpanEnricher.TryEnrich(testCase.Payload, identity, actual, out var actualSpanId, out var actualIsSegment);

        Assert.Equal(expectedOk, actualOk);
        Assert.Equal(Encoding.UTF8.GetString(expected.WrittenSpan), Encoding.UTF8.GetString(actual.WrittenSpan));
        Assert.True(expected.WrittenSpan.SequenceEqual(actual.WrittenSpan));
        Assert.Equal(expectedSpanId, actualSpanId);
        Assert.Equal(expectedIsSegment, actualIsSegment);
        return actualOk;
    }
}
