using SpanBuffer.Ingest;
using SpanBuffer.Models;
using static SpanBuffer.Tests.TestSpans;

namespace SpanBuffer.Tests;

public sealed class SubsegmentTests
{
    private static SpanTree CreateTree(char parent, params Span[] spans)
    {
        var tree = new SpanTree(1, Trace, Id(parent));
        tree.Spans.AddRange(spans);
        return tree;
    }

    private static SpanTree FiveSpanTree() => CreateTree(
        'a',
        Create('b', 'a', payload: "{\"n\":1}", partition: 3),
        Create('c', 'a', payload: "{\"n\":22}", partition: 4),
        Create('d', 'a', payload: "{\"n\":333}", partition: 5),
        Create('a', null, payload: "{}", partition: 6),
        Create('e', 'a', payload: "{\"e\":true}", partition: 7));

    [Fact]
    public void Build_TreeLargerThanLimit_SplitsIntoOrderedChunksOfAtMostN()
    {
        var tree = FiveSpanTree();

        var chunks = Subsegment.Build([tree], 2);

        Assert.Equal(["b,c", "d,a", "e"], chunks.Select(c => Ids(c.Spans)));
        Assert.All(chunks, c => Assert.Same(tree, c.Tree));
        Assert.All(chunks, c => Assert.Equal(Id('a'), c.ParentSpanId));
        Assert.All(chunks, c => Assert.Equal("1:" + Trace, c.ProjectAndTrace));
    }

    [Fact]
    public void Build_Chunks_EachHasTheSaltOfItsOwnSpanIds()
    {
        var chunks = Subsegment.Build([FiveSpanTree()], 2);

        Assert.Equal(SaltHasher.Compute(Id('b'), Id('c')), chunks[0].Salt);
        Assert.Equal(SaltHasher.Compute(Id('d'), Id('a')), chunks[1].Salt);
        Assert.Equal(SaltHasher.Compute(Id('e')), chunks[2].Salt);
        Assert.Equal("c0eea56406378309d47cc3286501a293", chunks[2].Salt);
        Assert.Equal(3, chunks.Select(c => c.Salt).Distinct().Count());
    }

    [Fact]
    public void Build_Chunks_DeriveByteCountSegmentFlagAndPartitionFromTheirOwnSpans()
    {
        var chunks = Subsegment.Build([FiveSpanTree()], 2);

        Assert.Equal([15L, 11L, 10L], chunks.Select(c => c.ByteCount));
        Assert.Equal([false, true, false], chunks.Select(c => c.HasSegmentSpan));
        Assert.Equal([3, 5, 7], chunks.Select(c => c.Partition));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(100)]
    public void Build_LimitZeroOrNotExceeded_KeepsTheWholeTree(int maxSpansPerChunk)
    {
        var chunk = Assert.Single(Subsegment.Build([FiveSpanTree()], maxSpansPerChunk));

        Assert.Equal("b,c,d,a,e", Ids(chunk.Spans));
        Assert.Equal(36, chunk.ByteCount);
        Assert.True(chunk.HasSegmentSpan);
        Assert.Equal(3, chunk.Partition);
        Assert.Equal(SaltHasher.Compute(Id('b'), Id('c'), Id('d'), Id('a'), Id('e')), chunk.Salt);
    }

    [Fact]
    public void Build_SeveralTrees_KeepsTreeOrderAndEachTreesKey()
    {
        var first = CreateTree('p', Create('x', 'p'), Create('y', 'p'), Create('z', 'p'));
        var second = CreateTree('q', Create('w', 'q'));

        var chunks = Subsegment.Build([first, second], 2);

        Assert.Equal(["x,y", "z", "w"], chunks.Select(c => Ids(c.Spans)));
        Assert.Equal([Id('p'), Id('p'), Id('q')], chunks.Select(c => c.ParentSpanId));
    }

    [Fact]
    public void Build_ChunkOfTheFourSpanExample_MatchesReferenceSalts()
    {
        var chunk = Assert.Single(Subsegment.Build([CreateTree('b', Create('a', 'b'), Create('b', null))], 0));

        Assert.Equal("3106330ede3673ae78e9b017358c794a", chunk.Salt);
    }
}
