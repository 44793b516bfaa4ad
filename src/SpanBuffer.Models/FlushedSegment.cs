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

    /// <summary>
    /// Creates a segment a host built (to test its sink, or to send spans it holds) without a <see cref="FlushCandidate"/>:
    /// the segment and queue keys are formatted as the buffer formats them for <paramref name="keyPrefix"/>,
    /// <paramref name="shard"/> and <paramref name="sliceId"/>, the deadline is 0 and no payload keys are listed.
    /// Passed to <c>SpansBuffer.DoneFlushSegmentsAsync</c>, it is cleaned up the reference's way: its queue entry,
    /// counters, flags, lock and the listed spans' redirects are removed; its payload sets are left to their TTL.
    /// </summary>
    /// <param name="segment">The segment's identity.</param>
    /// <param name="spans">The spans, in message order (copied); see <see cref="OutputSpan.FromJson(ReadOnlyMemory{byte})"/>.</param>
    /// <param name="keyPrefix">The buffer's key prefix (the key-prefix option).</param>
    /// <param name="shard">The queue shard the segment is filed under.</param>
    /// <param name="sliceId">The slice id option, when the buffer has one.</param>
    /// <returns>The segment.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="spans"/> or <paramref name="keyPrefix"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="spans"/> holds a <see langword="null"/> element; <paramref name="segment"/> has an empty trace or
    /// root id, or one holding a brace, a colon or whitespace; or <paramref name="keyPrefix"/> is not 1 to 64 letters,
    /// digits, <c>-</c>, <c>_</c> or <c>.</c>.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="shard"/> or <paramref name="sliceId"/> is negative.</exception>
    public static FlushedSegment Create(SegmentKey segment, IEnumerable<OutputSpan> spans, string keyPrefix = Models.SegmentKey.DefaultPrefix, int shard = 0, int? sliceId = null)
    {
        ArgumentNullException.ThrowIfNull(keyPrefix);
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        if (sliceId is { } slice)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(slice, nameof(sliceId));
        }

        if (keyPrefix.Length is 0 or > 64 || keyPrefix.AsSpan().ContainsAnyExcept(s_keyPrefixCharacters))
        {
            throw new ArgumentException("A key prefix is 1 to 64 letters, digits, '-', '_' or '.'.", nameof(keyPrefix));
        }

        ValidateId(segment.TraceId, "trace id");
        ValidateId(segment.RootId, "root id");
        var copied = CopySpans(spans);
        var queueKey = sliceId is { } s
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{keyPrefix}:q:{s}-{shard}")
            : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{keyPrefix}:q:{shard}");
        return new FlushedSegment(new FlushCandidate(shard, queueKey, segment.Format(keyPrefix), 0), segment.ProjectId, copied, []);

        static void ValidateId(string? id, string what)
        {
            if (string.IsNullOrEmpty(id) || SpanIds.FindForbidden(id) is not null)
            {
                throw new ArgumentException($"The segment's {what} must be non-empty, without braces, colons or whitespace.", nameof(segment));
            }
        }
    }

    /// <summary>
    /// Creates a segment a host built from the Redis keys it knows (for example read from the queue), with the payload
    /// keys to unlink when it is cleaned up. The shard is read from the queue key's <c>:&lt;shard&gt;</c> or
    /// <c>:&lt;slice&gt;-&lt;shard&gt;</c> suffix (0 when it has neither); the deadline is 0.
    /// </summary>
    /// <param name="queueKey">The key of the queue the segment is filed in (<c>span-buf:q:0</c>).</param>
    /// <param name="segmentKey">The segment key (<c>span-buf:s:{project:trace}:root</c>); the project id is read from it.</param>
    /// <param name="spans">The spans, in message order (copied).</param>
    /// <param name="payloadKeys">Payload set keys to unlink at cleanup (with the member index); none by default.</param>
    /// <returns>The segment.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="queueKey"/>, <paramref name="segmentKey"/> or <paramref name="spans"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="queueKey"/> is empty or whitespace, <paramref name="segmentKey"/> is not a segment key, or
    /// <paramref name="spans"/> or <paramref name="payloadKeys"/> holds a <see langword="null"/> or empty element.
    /// </exception>
    public static FlushedSegment FromKeys(string queueKey, string segmentKey, IEnumerable<OutputSpan> spans, IEnumerable<string>? payloadKeys = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queueKey);
        ArgumentNullException.ThrowIfNull(segmentKey);
        if (!Models.SegmentKey.TryParse(segmentKey, out var parsed))
        {
            throw new ArgumentException($"Not a segment key: '{segmentKey}'. Expected '<prefix>:s:{{<project>:<trace>}}:<root>'.", nameof(segmentKey));
        }

        var copied = CopySpans(spans);
        var keys = payloadKeys?.ToArray() ?? [];
        if (Array.FindIndex(keys, string.IsNullOrEmpty) is var bad and >= 0)
        {
            throw new ArgumentException($"The payload key at index {bad} is null or empty.", nameof(payloadKeys));
        }

        var suffix = queueKey.AsSpan(queueKey.LastIndexOf(':') + 1);
        suffix = suffix[(suffix.LastIndexOf('-') + 1)..];
        var shard = int.TryParse(suffix, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) ? value : 0;
        return new FlushedSegment(new FlushCandidate(shard, queueKey, segmentKey, 0), parsed.ProjectId, copied, keys);
    }

    private static readonly System.Buffers.SearchValues<char> s_keyPrefixCharacters =
        System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");

    internal static OutputSpan[] CopySpans(IEnumerable<OutputSpan> spans, string parameterName = "spans")
    {
        ArgumentNullException.ThrowIfNull(spans, parameterName);
        var copied = spans.ToArray();
        if (Array.IndexOf(copied, null) is var bad and >= 0)
        {
            throw new ArgumentException($"The spans hold no span at index {bad}.", parameterName);
        }

        return copied;
    }

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
