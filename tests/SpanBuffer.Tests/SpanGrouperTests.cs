using CsCheck;
using SpanBuffer.Ingest;
using SpanBuffer.Models;
using static SpanBuffer.Tests.TestSpans;

namespace SpanBuffer.Tests;

public sealed class SpanGrouperTests
{
    private static readonly Span[] s_fourSpanExample =
    [
        Create('a', 'b'),
        Create('d', 'b'),
        Create('c', 'b'),
        Create('b', null),
    ];

    private static readonly Span[] s_chainExample =
    [
        Create('e', 'd'),
        Create('d', 'b'),
        Create('b', 'c'),
        Create('c', 'a'),
        Create('a', null),
    ];

    /// <summary>
    /// Random forests: span i's parent and segment id are absent, an earlier span, or an id outside the batch; some
    /// spans with a parent are segment spans; a few spans belong to a second project that reuses the same ids.
    /// </summary>
    private static readonly Gen<Span[]> s_forests =
        Gen.Int[1, 16].SelectMany(n => Gen.Select(Gen.Int[0, 99].Array[n], Gen.Int[0, 99].Array[n], Gen.Int[0, 99].Array[n], Gen.Int[0, 99].Array[n], (parents, segments, segmentIds, projects) =>
        {
            var spans = new Span[n];
            for (var i = 0; i < n; i++)
            {
                var parent = i == 0 || parents[i] < 20 ? null
                    : parents[i] < 30 ? External(parents[i] % 3)
                    : SpanId(parents[i] % i);
                var segmentId = i == 0 || segmentIds[i] >= 25 ? null
                    : segmentIds[i] < 5 ? External(segmentIds[i] % 3)
                    : SpanId(segmentIds[i] % i);
                var isSegment = parent is null || segments[i] < 15;
                var project = projects[i] < 15 ? 2 : 1;
                spans[i] = new Span(Trace, SpanId(i), parent, segmentId, project, "{}"u8.ToArray(), isSegment);
            }

            return spans;
        }));

    [Fact]
    public void GroupByParent_FourSpanExampleInEveryOrder_GivesOneTreeUnderRoot()
    {
        var orders = Permutations(s_fourSpanExample).ToList();
        Assert.Equal(24, orders.Count);
        foreach (var order in orders)
        {
            var trees = SpanGrouper.GroupByParent(order);

            var tree = Assert.Single(trees);
            Assert.Equal(1, tree.ProjectId);
            Assert.Equal(Trace, tree.TraceId);
            Assert.Equal("1:" + Trace, tree.ProjectAndTrace);
            Assert.Equal(Id('b'), tree.ParentId);
            Assert.Equal(4, tree.Spans.Count);
            Assert.Equal("a,b,c,d", string.Join(",", tree.Spans.Select(s => s.SpanId[0]).Order()));
        }
    }

    [Fact]
    public void GroupByParent_ChainExampleInEveryOrder_GivesOneTreeUnderTopAncestor()
    {
        var orders = Permutations(s_chainExample).ToList();
        Assert.Equal(120, orders.Count);
        foreach (var order in orders)
        {
            var trees = SpanGrouper.GroupByParent(order);

            var tree = Assert.Single(trees);
            Assert.Equal("1:" + Trace, tree.ProjectAndTrace);
            Assert.Equal(Id('a'), tree.ParentId);
            Assert.Equal("a,b,c,d,e", string.Join(",", tree.Spans.Select(s => s.SpanId[0]).Order()));
        }
    }

    [Fact]
    public void GroupByParent_ChildrenArriveBeforeParent_PoppedChildrenPrecedeTheirParent()
    {
        // Walk of reference §3.1 for this order:
        // e -> trees{d:[e]}; c -> trees{d:[e], a:[c]}; d -> pops d into b: trees{a:[c], b:[e,d]};
        // a -> a:[c,a]; b -> resolves c->a, pops b's list into a: a:[c,a,e,d,b].
        Span[] order = [Create('e', 'd'), Create('c', 'a'), Create('d', 'b'), Create('a', null), Create('b', 'c')];

        var tree = Assert.Single(SpanGrouper.GroupByParent(order));

        Assert.Equal(Id('a'), tree.ParentId);
        Assert.Equal("c,a,e,d,b", Ids(tree.Spans));
    }

    [Fact]
    public void GroupByParent_FourSpanExampleInArrivalOrder_KeepsArrivalOrderAndRootLast()
    {
        var tree = Assert.Single(SpanGrouper.GroupByParent(s_fourSpanExample));

        Assert.Equal("a,d,c,b", Ids(tree.Spans));
    }

    [Fact]
    public void GroupByParent_UnrelatedParents_TreesComeInFirstSeenOrder()
    {
        Span[] spans = [Create('x', 'p'), Create('y', 'q'), Create('z', 'p')];

        var trees = SpanGrouper.GroupByParent(spans);

        Assert.Equal([Id('p'), Id('q')], trees.Select(t => t.ParentId));
        Assert.Equal("x,z", Ids(trees[0].Spans));
        Assert.Equal("y", Ids(trees[1].Spans));
    }

    [Fact]
    public void GroupByParent_SameIdsInDifferentProjects_NeverMix()
    {
        Span[] spans = [Create('a', 'b', project: 1), Create('b', null, project: 2), Create('c', 'b', project: 1)];

        var trees = SpanGrouper.GroupByParent(spans);

        Assert.Equal(2, trees.Count);
        Assert.Equal((1L, Id('b'), "a,c"), (trees[0].ProjectId, trees[0].ParentId, Ids(trees[0].Spans)));
        Assert.Equal((2L, Id('b'), "b"), (trees[1].ProjectId, trees[1].ParentId, Ids(trees[1].Spans)));
        Assert.All(trees[0].Spans, s => Assert.Equal(1, s.ProjectId));
    }

    [Fact]
    public void GroupByParent_SameIdsInDifferentTraces_NeverMix()
    {
        const string otherTrace = "fedcba9876543210fedcba9876543210";
        Span[] spans = [Create('a', 'b'), Create('b', null, trace: otherTrace), Create('b', null)];

        var trees = SpanGrouper.GroupByParent(spans);

        Assert.Equal(2, trees.Count);
        Assert.Equal(("1:" + Trace, "a,b"), (trees[0].ProjectAndTrace, Ids(trees[0].Spans)));
        Assert.Equal(("1:" + otherTrace, "b"), (trees[1].ProjectAndTrace, Ids(trees[1].Spans)));
        Assert.Equal(otherTrace, trees[1].TraceId);
    }

    [Fact]
    public void GroupByParent_SpanWithSegmentId_JoinsThatSegmentNotItsParent()
    {
        // x's direct parent y is not connected to the root in this batch, but x knows its segment id.
        Span[] spans = [Create('x', 'y', segment: 'a'), Create('a', null)];

        var tree = Assert.Single(SpanGrouper.GroupByParent(spans));

        Assert.Equal(Id('a'), tree.ParentId);
        Assert.Equal("x,a", Ids(tree.Spans));
    }

    [Fact]
    public void GroupByParent_SegmentIdWithoutRootInBatch_TreeIsKeyedBySegmentId()
    {
        Span[] spans = [Create('x', 'y', segment: 's'), Create('w', 'x')];

        var tree = Assert.Single(SpanGrouper.GroupByParent(spans));

        Assert.Equal(Id('s'), tree.ParentId);
        Assert.Equal("x,w", Ids(tree.Spans));
    }

    [Fact]
    public void GroupByParent_NestedSegmentSpanWithParent_AnchorsItsOwnTree()
    {
        Span[] spans = [Create('c', 'b'), Create('b', 'a', isSegment: true), Create('a', null)];

        var trees = SpanGrouper.GroupByParent(spans);

        Assert.Equal(2, trees.Count);
        Assert.Equal((Id('b'), "c,b"), (trees[0].ParentId, Ids(trees[0].Spans)));
        Assert.Equal((Id('a'), "a"), (trees[1].ParentId, Ids(trees[1].Spans)));
    }

    [Fact]
    public void GroupByParent_NestedSegmentSpanInEveryOrder_StaysSeparateFromOuterSegment()
    {
        Span[] spans = [Create('c', 'b'), Create('b', 'a', isSegment: true), Create('a', null), Create('d', 'a')];
        foreach (var order in Permutations(spans))
        {
            var trees = SpanGrouper.GroupByParent(order);

            Assert.Equal(2, trees.Count);
            var byParent = trees.ToDictionary(t => t.ParentId[0], t => string.Join(",", t.Spans.Select(s => s.SpanId[0]).Order()));
            Assert.Equal("b,c", byParent['b']);
            Assert.Equal("a,d", byParent['a']);
        }
    }

    [Fact]
    public void GroupByParent_TwoSpanCycle_TerminatesDeterministically()
    {
        Span[] spans = [Create('a', 'b'), Create('b', 'a')];

        var first = SpanGrouper.GroupByParent(spans);
        var second = SpanGrouper.GroupByParent(spans);

        var tree = Assert.Single(first);
        Assert.Equal(Id('b'), tree.ParentId);
        Assert.Equal("a,b", Ids(tree.Spans));
        Assert.Equal(tree.ParentId, Assert.Single(second).ParentId);
        Assert.Equal(Ids(tree.Spans), Ids(second[0].Spans));
    }

    [Fact]
    public void GroupByParent_ThreeSpanCycleInEveryOrder_TerminatesWithEverySpanOnce()
    {
        Span[] spans = [Create('a', 'b'), Create('b', 'c'), Create('c', 'a')];
        foreach (var order in Permutations(spans))
        {
            var trees = SpanGrouper.GroupByParent(order);

            Assert.Equal("a,b,c", string.Join(",", trees.SelectMany(t => t.Spans).Select(s => s.SpanId[0]).Order()));
        }
    }

    [Fact]
    public void GroupByParent_DuplicateSpanIds_KeepsEveryCopyAndTerminates()
    {
        Span[] spans = [Create('a', 'b'), Create('a', 'c'), Create('b', 'a'), Create('c', 'b'), Create('a', 'b'), Create('b', null)];

        var trees = SpanGrouper.GroupByParent(spans);

        Assert.Equal(spans.Length, trees.Sum(t => t.Spans.Count));
        Assert.Equal("a,a,a,b,b,c", string.Join(",", trees.SelectMany(t => t.Spans).Select(s => s.SpanId[0]).Order()));
    }

    [Fact]
    public void GroupByParent_DuplicateRoots_AppendBothToTheSameTree()
    {
        Span[] spans = [Create('a', null), Create('b', 'a'), Create('a', null)];

        var tree = Assert.Single(SpanGrouper.GroupByParent(spans));

        Assert.Equal("a,b,a", Ids(tree.Spans));
    }

    [Fact]
    public void GroupByParent_EmptyBatch_ReturnsNoTrees()
    {
        Assert.Empty(SpanGrouper.GroupByParent([]));
    }

    private static string SpanId(int i) => i.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);

    private static string External(int i) => "e" + i.ToString("x15", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The grouping rule as a plain model: follow effective parents while they are in the batch.</summary>
    private static string Anchor(Span span, Dictionary<(long, string), Span> byId)
    {
        var current = span;
        while (true)
        {
            var parent = current.EffectiveParentId;
            if (parent == current.SpanId || !byId.TryGetValue((current.ProjectId, parent), out var next))
            {
                return parent;
            }

            current = next;
        }
    }

    private static string Describe(Span[] spans) => string.Join(
        "; ",
        spans.Select(s => $"{s.ProjectId}/{s.SpanId}<-{s.ParentSpanId ?? "-"} seg={s.SegmentId ?? "-"} root={s.IsSegmentSpan}"));

    [Fact]
    public void GroupByParent_RandomForestsInRandomOrder_EqualTheAncestorModel()
    {
        var gen = s_forests.SelectMany(spans => Gen.Shuffle(spans.ToArray()).Select(order => (spans, order)));

        gen.Sample(
            (spans, order) =>
            {
                var byId = spans.ToDictionary(s => (s.ProjectId, s.SpanId));
                var expected = spans
                    .GroupBy(s => (s.ProjectId, Anchor: Anchor(s, byId)))
                    .Select(g => $"{g.Key.ProjectId}/{g.Key.Anchor}: {string.Join(",", g.Select(s => s.SpanId).Order(StringComparer.Ordinal))}")
                    .Order(StringComparer.Ordinal)
                    .ToList();

                var trees = SpanGrouper.GroupByParent(order);

                var actual = trees
                    .Select(t => $"{t.ProjectId}/{t.ParentId}: {string.Join(",", t.Spans.Select(s => s.SpanId).Order(StringComparer.Ordinal))}")
                    .Order(StringComparer.Ordinal)
                    .ToList();
                Assert.Equal(expected, actual);
                var flattened = trees.SelectMany(t => t.Spans).ToList();
                Assert.Equal(spans.Length, flattened.Count);
                Assert.Equal(spans.Length, flattened.Distinct().Count());
                Assert.All(trees, t => Assert.All(t.Spans, s => Assert.Equal(t.ProjectId, s.ProjectId)));
            },
            iter: 2000,
            print: t => Describe(t.Item2));
    }
}
