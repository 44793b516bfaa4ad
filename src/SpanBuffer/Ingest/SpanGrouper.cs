using SpanBuffer.Models;

namespace SpanBuffer.Ingest;

/// <summary>
/// The spans of one batch that belong under one parent: the highest ancestor known within the batch.
/// </summary>
internal sealed class SpanTree(long projectId, string traceId, string parentId)
{
    public long ProjectId { get; } = projectId;

    public string TraceId { get; } = traceId;

    public string ProjectAndTrace { get; } = Redis.KeySchema.ProjectAndTrace(projectId, traceId);

    public string ParentId { get; } = parentId;

    public List<Span> Spans { get; } = [];
}

/// <summary>
/// Groups a batch by parent (reference §3.1): every span joins the tree of its effective parent, following
/// redirects recorded earlier in the same batch; children that arrived before their parent are moved into
/// the parent's tree when it arrives. Trees come out in first-seen order.
/// </summary>
internal static class SpanGrouper
{
    public static IReadOnlyList<SpanTree> GroupByParent(IReadOnlyList<Span> spans)
    {
        var trees = new List<SpanTree?>();
        var treeIndex = new Dictionary<SpanRef, int>();
        var redirects = new Dictionary<SpanRef, string>();

        foreach (var span in spans)
        {
            var parent = span.EffectiveParentId;
            // The walk ends: a span never redirects to itself and each redirect was recorded once per span id.
            var hops = 0;
            while (redirects.TryGetValue(new SpanRef(span.ProjectId, span.TraceId, parent), out var next) && hops++ <= redirects.Count)
            {
                parent = next;
            }

            var key = new SpanRef(span.ProjectId, span.TraceId, parent);
            if (!treeIndex.TryGetValue(key, out var index))
            {
                index = trees.Count;
                trees.Add(new SpanTree(span.ProjectId, span.TraceId, parent));
                treeIndex.Add(key, index);
            }

            var tree = trees[index]!;
            if (!string.Equals(parent, span.SpanId, StringComparison.Ordinal))
            {
                var own = new SpanRef(span.ProjectId, span.TraceId, span.SpanId);
                if (treeIndex.Remove(own, out var waitingIndex))
                {
                    tree.Spans.AddRange(trees[waitingIndex]!.Spans);
                    trees[waitingIndex] = null;
                }

                redirects[own] = parent;
            }

            tree.Spans.Add(span);
        }

        var result = new List<SpanTree>(treeIndex.Count);
        foreach (var tree in trees)
        {
            if (tree is not null)
            {
                result.Add(tree);
            }
        }

        return result;
    }

    private readonly record struct SpanRef(long ProjectId, string TraceId, string SpanId);
}
