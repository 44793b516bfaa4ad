using SpanBuffer.Ingest;
using SpanBuffer.Models;
using static SpanBuffer.Tests.TestSpans;

namespace SpanBuffer.Tests;

public sealed class SaltHasherTests
{
    /// <summary>The test vectors of reference §2.1: span id letters and the expected BLAKE2b-128 hex.</summary>
    public static TheoryData<string, string> Vectors => new()
    {
        { "a", "a84cf0c4b70bd599463369999f7459e9" },
        { "b", "4ed183057f51feb79d684a8582fb02b3" },
        { "c", "2f3bf1d39261f3513a913d2e12823bee" },
        { "d", "adcd415557c2c6d1982daef383796106" },
        { "e", "c0eea56406378309d47cc3286501a293" },
        { "ab", "3106330ede3673ae78e9b017358c794a" },
        { "cb", "97cabf6c4d67b3cf9bd8dd55c9190a4f" },
        { "dea", "5754cd2a69251b740c3c5c473544d8bb" },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Compute_SpanIds_MatchesReferenceVector(string letters, string expected)
    {
        string[] ids = [.. letters.Select(Id)];

        Assert.Equal(expected, SaltHasher.Compute(ids));
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Compute_Spans_MatchesReferenceVector(string letters, string expected)
    {
        Span[] spans = [.. letters.Select(c => Create(c, null))];

        Assert.Equal(expected, SaltHasher.Compute(spans.AsSpan()));
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Compute_ConcatenatedIdsAsOneString_HashesTheSameBytes(string letters, string expected)
    {
        Assert.Equal(expected, SaltHasher.Compute(string.Concat(letters.Select(Id))));
    }

    [Fact]
    public void Compute_DifferentOrder_GivesDifferentSalt()
    {
        Assert.NotEqual(SaltHasher.Compute(Id('a'), Id('b')), SaltHasher.Compute(Id('b'), Id('a')));
    }

    [Fact]
    public void Compute_IdsLongerThanTheStackBuffer_HashesTheSameBytesAsShortPieces()
    {
        var longId = new string('a', 300);

        Assert.Equal(SaltHasher.Compute(longId), SaltHasher.Compute(new string('a', 100), new string('a', 200)));
        Assert.Equal(SaltHasher.Compute(longId), SaltHasher.Compute(Enumerable.Repeat(Id('a'), 300 / 16).Append(new string('a', 300 % 16)).ToArray()));
    }

    [Fact]
    public void Compute_Salt_Is32LowercaseHex()
    {
        Assert.Matches("^[0-9a-f]{32}$", SaltHasher.Compute(Id('f')));
    }
}
