namespace SpanBuffer.Models;

/// <summary>
/// A segment read from Redis and enriched, ready to hand to the host. It carries everything cleanup needs:
/// the candidate (segment key, queue key), the span ids and the payload keys that were loaded.
/// </summary>
/// <param name="Candidate">The queue entry this segment was flushed from.</param>
/// <param name="ProjectId">The project id parsed from the segment key.</param>
/// <param name="Spans">The enriched spans; empty when nothing was loaded (the segment is still cleaned up).</param>
/// <param name="PayloadKeys">The payload keys listed in the segment's member index when it was loaded.</param>
public sealed record FlushedSegment(
    FlushCandidate Candidate,
    long ProjectId,
    IReadOnlyList<OutputSpan> Spans,
    IReadOnlyList<string> PayloadKeys)
{
    /// <summary>Gets the segment key.</summary>
    public string SegmentKey => Candidate.SegmentKey;

    /// <summary>Gets the key of the queue the segment was flushed from.</summary>
    public string QueueKey => Candidate.QueueKey;

    /// <summary>
    /// Gets the spans this flush found lost for this segment, by reason (empty when none). A host that reports losses
    /// per delivered segment reports them once: after the segment's cleanup, not after every attempt to deliver it.
    /// </summary>
    public IReadOnlyList<SegmentLoss> Losses { get; internal set; } = [];

    /// <summary>Gets what cleanup needs to remove exactly what was loaded (none for a segment a host built).</summary>
    internal SegmentSnapshot? Snapshot { get; init; }

    /// <summary>Gets a value indicating whether the segment contains its root span.</summary>
    public bool HasRootSpan
    {
        get
        {
            foreach (var span in Spans)
            {
                if (span.IsSegment)
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>
    /// Splits the segment into messages of at most <paramref name="maxBytes"/> bytes of span JSON: one message
    /// when everything fits, else greedy chunks marked <c>skip_enrichment</c>. Each message gets a fresh flush id.
    /// </summary>
    /// <param name="maxBytes">The largest total span JSON size per message (the max-segment-bytes option).</param>
    /// <returns>The messages, in span order; empty when the segment has no spans.</returns>
    public IReadOnlyList<SegmentMessage> ToMessages(long maxBytes)
    {
        var spans = Spans;
        if (spans.Count == 0)
        {
            return [];
        }

        long total = 0;
        foreach (var span in spans)
        {
            total += span.Json.Length;
        }

        if (total <= maxBytes)
        {
            return [new SegmentMessage(ProjectId, AsArraySegment(spans, 0, spans.Count), skipEnrichment: false)];
        }

        var messages = new List<SegmentMessage>();
        var start = 0;
        long size = 0;
        for (var i = 0; i < spans.Count; i++)
        {
            var length = spans[i].Json.Length;
            if (i > start && size + length > maxBytes)
            {
                messages.Add(new SegmentMessage(ProjectId, AsArraySegment(spans, start, i - start), skipEnrichment: true));
                start = i;
                size = 0;
            }

            size += length;
        }

        messages.Add(new SegmentMessage(ProjectId, AsArraySegment(spans, start, spans.Count - start), skipEnrichment: true));
        return messages;
    }

    private static ArraySegment<OutputSpan> AsArraySegment(IReadOnlyList<OutputSpan> spans, int offset, int count) =>
        spans is OutputSpan[] array
            ? new ArraySegment<OutputSpan>(array, offset, count)
            : new ArraySegment<OutputSpan>(spans.Skip(offset).Take(count).ToArray());
}
