using SpanBuffer.Ingest;
using SpanBuffer.Redis;
using StackExchange.Redis;
using Span = SpanBuffer.Models.Span;

namespace SpanBuffer.Tests;

/// <summary>
/// The queue entries one ingest call removes (reference §3.6 step 5): compared with the reference's running set, a
/// string per span key, added tree by tree and taken out result by result.
/// </summary>
public sealed class StaleQueueEntriesTests
{
    private static readonly KeySchema Keys = new("span-buf");
    private const string Trace = "5b8efff798038103d269b633813fc60c";

    [Fact]
    public void Build_KeyKeptByOneResultAndAddedAgainByALaterTree_IsRemoved()
    {
        var first = Tree("p", "x", "y");
        var second = Tree("q", "x", "z");
        var entries = new StaleQueueEntries(Keys);

        entries.Add(0, Chunk(first), Result("x"), QueueCleanupRule.EverySpanOfTheTree);
        entries.Add(1, Chunk(second), Result("z"), QueueCleanupRule.EverySpanOfTheTree);

        Assert.Equal([Key("x"), Key("y")], Members(entries));
    }

    [Fact]
    public void Build_KeyAddedAndThenKeptByALaterResult_StaysQueued()
    {
        var first = Tree("p", "x", "y");
        var second = Tree("q", "z");
        var entries = new StaleQueueEntries(Keys);

        entries.Add(0, Chunk(first), Result("p"), QueueCleanupRule.EverySpanOfTheTree);
        entries.Add(1, Chunk(second), Result("y"), QueueCleanupRule.EverySpanOfTheTree);

        Assert.Equal([Key("x"), Key("z")], Members(entries));
    }

    [Fact]
    public void Build_MergedRootsRule_RemovesOnlyTheMergedRootsButTheResultsOwn()
    {
        var entries = new StaleQueueEntries(Keys);

        entries.Add(0, Chunk(Tree("p", "x", "y", "w")), Result("p", "x", "y"), QueueCleanupRule.MergedRoots);
        entries.Add(1, Chunk(Tree("q", "z")), Result("x"), QueueCleanupRule.MergedRoots);

        Assert.Equal([Key("y")], Members(entries));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Build_RandomCalls_MatchTheReferenceRunningSet(int seed)
    {
        var random = new Random(seed);
        for (var round = 0; round < 200; round++)
        {
            // Few ids, so trees share span ids and results name keys that other trees hold.
            var ids = Enumerable.Range(0, 8).Select(i => $"{i:x16}").ToArray();
            var calls = new List<(int Index, Subsegment Chunk, AddBufferResult Result)>();
            var index = 0;
            for (var t = random.Next(1, 5); t > 0; t--)
            {
                var tree = Tree(ids[random.Next(ids.Length)], [.. ids.OrderBy(_ => random.Next()).Take(random.Next(1, 6))]);
                var spans = tree.Spans.ToArray();
                for (var offset = 0; offset < spans.Length; offset += 2)
                {
                    var chunk = new Subsegment(tree, new ArraySegment<Span>(spans, offset, Math.Min(2, spans.Length - offset)));
                    var detached = random.Next(4) == 0 ? DetachReason.TooLarge : DetachReason.None;
                    calls.Add((index++, chunk, Result(ids[random.Next(ids.Length)]) with { DetachReason = detached }));
                }
            }

            var expected = new HashSet<string>(StringComparer.Ordinal);
            var entries = new StaleQueueEntries(Keys);
            foreach (var (i, chunk, result) in calls.Where(c => !c.Result.IsDetached))
            {
                expected.UnionWith(chunk.Tree.Spans.Select(span => Key(span.SpanId)));
                expected.Remove(result.SegmentKey);
                entries.Add(i, chunk, result, QueueCleanupRule.EverySpanOfTheTree);
            }

            Assert.Equal(expected.Order(StringComparer.Ordinal), Members(entries).Distinct());
        }
    }

    private static string[] Members(StaleQueueEntries entries)
    {
        var rented = new List<byte[]>();
        return [.. entries.Build(rented).Select(member => (string)member!).Order(StringComparer.Ordinal)];
    }

    private static SpanTree Tree(string parent, params string[] spanIds)
    {
        var tree = new SpanTree(1, Trace, parent);
        tree.Spans.AddRange(spanIds.Select(id => new Span(Trace, id, parent, null, 1, "{}"u8.ToArray(), false, 0)));
        return tree;
    }

    private static Subsegment Chunk(SpanTree tree) => new(tree, new ArraySegment<Span>([.. tree.Spans]));

    private static AddBufferResult Result(string root, params string[] mergedRoots) =>
        new(Key(root), HasRootSpan: false, DetachReason.None, mergedRoots);

    private static string Key(string root) => Keys.SegmentKey(KeySchema.ProjectAndTrace(1, Trace), root);
}
