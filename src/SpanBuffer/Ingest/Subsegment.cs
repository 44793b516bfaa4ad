using SpanBuffer.Models;

namespace SpanBuffer.Ingest;

/// <summary>
/// One ingest script call: a chunk of a <see cref="SpanTree"/> with its own salt, and so its own payload key.
/// </summary>
internal sealed class Subsegment
{
    public Subsegment(SpanTree tree, ArraySegment<Span> spans)
    {
        Tree = tree;
        Spans = spans;
        Salt = SaltHasher.Compute(spans.AsSpan());
        long bytes = 0;
        foreach (var span in spans)
        {
            bytes += span.Payload.Length;
            HasSegmentSpan |= span.IsSegmentSpan;
        }

        ByteCount = bytes;
    }

    public SpanTree Tree { get; }

    public ArraySegment<Span> Spans { get; }

    public string Salt { get; }

    public string ProjectAndTrace => Tree.ProjectAndTrace;

    public string ParentSpanId => Tree.ParentId;

    /// <summary>Gets the raw (uncompressed) payload bytes of the chunk.</summary>
    public long ByteCount { get; }

    public bool HasSegmentSpan { get; }

    /// <summary>Gets the queue shard: the partition of the chunk's first span (a trace stays on one partition).</summary>
    public int Partition => Spans[0].Partition;

    /// <summary>Splits each tree into chunks of at most <paramref name="maxSpansPerChunk"/> spans (0 = whole trees).</summary>
    public static List<Subsegment> Build(IReadOnlyList<SpanTree> trees, int maxSpansPerChunk)
    {
        var result = new List<Subsegment>(trees.Count);
        foreach (var tree in trees)
        {
            var spans = tree.Spans.ToArray();
            var chunk = maxSpansPerChunk > 0 ? maxSpansPerChunk : spans.Length;
            for (var offset = 0; offset < spans.Length; offset += chunk)
            {
                result.Add(new Subsegment(tree, new ArraySegment<Span>(spans, offset, Math.Min(chunk, spans.Length - offset))));
            }
        }

        return result;
    }
}
