using System.Globalization;
using Span = SpanBuffer.Models.Span;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>A segment as the grouping rule defines it: its root id and the ids of its spans.</summary>
internal readonly record struct ModelSegment(long ProjectId, string TraceId, string RootId)
{
    public override string ToString() => $"{ProjectId}:{TraceId}:{RootId}";
}

/// <summary>
/// Random span forests for the ingest property and workload tests, and a plain in-memory model of the grouping
/// rule to compare Redis against.
/// </summary>
internal static class RandomForest
{
    /// <summary>
    /// One to <paramref name="maxTraces"/> traces (each on its own partition, some sharing a trace id across
    /// projects), each a random forest of 1 to <paramref name="maxSpansPerTrace"/> spans: roots, children of
    /// earlier spans, nested segment spans, orphans whose parent is never seen, and children that carry their
    /// segment id. Parents always come before children, so there are no cycles.
    /// </summary>
    public static List<Span> Generate(Random random, int maxTraces, int maxSpansPerTrace)
    {
        var spans = new List<Span>();
        var traceCount = random.Next(1, maxTraces + 1);
        var firstTraceId = HexId(random, 32);
        for (var trace = 0; trace < traceCount; trace++)
        {
            // Sometimes the same trace id in another project: a different project-and-trace, so other keys.
            var projectId = 1 + trace;
            var traceId = trace > 0 && random.Next(3) == 0 ? firstTraceId : HexId(random, 32);
            var partition = trace;
            var ofTrace = new List<Span>();
            var count = random.Next(1, maxSpansPerTrace + 1);
            for (var i = 0; i < count; i++)
            {
                var id = HexId(random, 16);
                var bytes = random.Next(SpanFactory.DefaultBytes, 90);
                var roll = random.Next(100);
                Span span;
                if (i == 0 ? roll < 75 : roll < 8)
                {
                    span = SpanFactory.Root(id, bytes, traceId, projectId, partition);
                }
                else if (i == 0 || roll < 15)
                {
                    span = SpanFactory.Child(id, HexId(random, 16), bytes, traceId, projectId, partition);
                }
                else
                {
                    var parent = ofTrace[random.Next(ofTrace.Count)];
                    if (roll < 30)
                    {
                        span = SpanFactory.NestedSegment(id, parent.SpanId, bytes, traceId, projectId, partition);
                    }
                    else
                    {
                        // Some SDKs know the segment id: then it is the true segment root, when that is a known segment span.
                        var root = SegmentRoot(parent, ofTrace.ToDictionary(s => s.SpanId, StringComparer.Ordinal));
                        var knowsSegment = roll < 50 && ofTrace.Any(s => s.SpanId == root && s.IsSegmentSpan);
                        span = SpanFactory.Child(id, parent.SpanId, bytes, traceId, projectId, partition, knowsSegment ? root : null);
                    }
                }

                ofTrace.Add(span);
            }

            spans.AddRange(ofTrace);
        }

        return spans;
    }

    /// <summary>
    /// The grouping rule: a span's segment is its nearest ancestor-or-self that is a segment span, following
    /// parent links. When the ancestry leaves the known spans before reaching a segment span, the segment is
    /// named after the first unknown parent id (that is the segment key the buffer writes:
    /// <c>s:{PT}:&lt;missing parent&gt;</c>, flushed rootless after the timeout).
    /// </summary>
    public static Dictionary<ModelSegment, SortedSet<string>> ExpectedSegments(IReadOnlyList<Span> spans)
    {
        var byTrace = spans
            .GroupBy(s => (s.ProjectId, s.TraceId))
            .ToDictionary(g => g.Key, g => g.ToDictionary(s => s.SpanId, StringComparer.Ordinal));
        var segments = new Dictionary<ModelSegment, SortedSet<string>>();
        foreach (var span in spans)
        {
            var key = new ModelSegment(span.ProjectId, span.TraceId, SegmentRoot(span, byTrace[(span.ProjectId, span.TraceId)]));
            if (!segments.TryGetValue(key, out var ids))
            {
                ids = new SortedSet<string>(StringComparer.Ordinal);
                segments.Add(key, ids);
            }

            ids.Add(span.SpanId);
        }

        return segments;
    }

    /// <summary>The spans in a random order, cut into 1 to <paramref name="maxBatches"/> non-empty batches.</summary>
    public static List<Span[]> RandomBatches(Random random, IReadOnlyList<Span> spans, int maxBatches)
    {
        var shuffled = spans.ToArray();
        random.Shuffle(shuffled);
        var batchCount = random.Next(1, Math.Min(maxBatches, shuffled.Length) + 1);
        var cuts = Enumerable.Range(1, shuffled.Length - 1).OrderBy(_ => random.Next()).Take(batchCount - 1).Order().ToList();
        cuts.Add(shuffled.Length);
        var batches = new List<Span[]>(cuts.Count);
        var start = 0;
        foreach (var cut in cuts)
        {
            batches.Add(shuffled[start..cut]);
            start = cut;
        }

        return batches;
    }

    public static string HexId(Random random, int length)
    {
        var bytes = new byte[length / 2];
        random.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    public static string Describe(IEnumerable<Span> spans) => string.Join(
        Environment.NewLine,
        spans.Select(s => string.Create(
            CultureInfo.InvariantCulture,
            $"  {s.ProjectId}:{s.TraceId[..6]} {s.SpanId} parent={s.ParentSpanId ?? "-"} segment={s.SegmentId ?? "-"} is_segment={s.IsSegmentSpan} bytes={s.Payload.Length}")));

    private static string SegmentRoot(Span span, Dictionary<string, Span> known)
    {
        var current = span;
        for (var hops = 0; hops <= known.Count; hops++)
        {
            if (current.IsSegmentSpan || current.ParentSpanId is null)
            {
                return current.SpanId;
            }

            if (!known.TryGetValue(current.ParentSpanId, out var parent))
            {
                return current.ParentSpanId;
            }

            current = parent;
        }

        throw new InvalidOperationException($"The parent links of {span.SpanId} form a cycle.");
    }
}
