namespace SpanBuffer.Models;

/// <summary>A segment whose flush deadline has passed, as read from one shard's queue.</summary>
/// <param name="Shard">The queue shard.</param>
/// <param name="QueueKey">The Redis key of the shard's queue.</param>
/// <param name="SegmentKey">The segment key (queue member).</param>
/// <param name="Score">The flush deadline (integer Unix seconds).</param>
public readonly record struct FlushCandidate(int Shard, string QueueKey, string SegmentKey, long Score);

/// <summary>The counters the ingest script kept for a segment; <see langword="null"/> where the key was missing.</summary>
/// <param name="IngestedCount">Spans ingested into the segment.</param>
/// <param name="IngestedByteCount">Raw payload bytes ingested into the segment.</param>
public readonly record struct SegmentIngestMetadata(long? IngestedCount, long? IngestedByteCount);

/// <summary>A locked flush candidate with everything read from Redis for it.</summary>
/// <param name="Candidate">The candidate this data was loaded for.</param>
/// <param name="Payloads">The span payloads, decompressed.</param>
/// <param name="PayloadKeys">Every payload key listed in the segment's member index (cleanup unlinks them).</param>
/// <param name="IngestMetadata">The ingest counters.</param>
public sealed record LoadedSegment(
    FlushCandidate Candidate,
    IReadOnlyList<ReadOnlyMemory<byte>> Payloads,
    IReadOnlyList<string> PayloadKeys,
    SegmentIngestMetadata IngestMetadata)
{
    /// <summary>Gets what cleanup needs to remove exactly what was loaded (none for a segment a host built).</summary>
    internal SegmentSnapshot? Snapshot { get; init; }
}

/// <summary>Why spans counted as lost.</summary>
public enum SegmentLossReason
{
    /// <summary>Fewer spans were loaded than were ingested: payload keys expired or vanished, or a batch was replayed.</summary>
    Dropped,

    /// <summary>An empty segment whose estimated age exceeds the Redis TTL: its data expired before the flush.</summary>
    ExpiredBeforeFlush,

    /// <summary>A stored payload was not a JSON object and could not be enriched.</summary>
    InvalidPayload,

    /// <summary>The segment's messages failed delivery on every attempt and no dead-letter destination took them.</summary>
    DeliveryFailed,
}

/// <summary>Spans lost for one project and reason during a flush. The host decides what outcome to emit.</summary>
/// <param name="ProjectId">The project.</param>
/// <param name="Count">The number of spans (for <see cref="SegmentLossReason.ExpiredBeforeFlush"/>: segments).</param>
/// <param name="Reason">Why they were lost.</param>
public readonly record struct SegmentLoss(long ProjectId, long Count, SegmentLossReason Reason);
