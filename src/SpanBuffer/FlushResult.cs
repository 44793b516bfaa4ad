using SpanBuffer.Models;

namespace SpanBuffer;

/// <summary>What one flush produced: the segments to hand off, the losses it found, and its statistics.</summary>
/// <param name="Segments">The flushed segments, including empty ones (produce only those with spans; clean up all).</param>
/// <param name="Losses">Spans lost, per project and reason; the host decides what outcome to emit.</param>
/// <param name="AnyShardAtLimit">Whether a segment reached the per-shard flush limit (the soft backpressure signal).</param>
/// <param name="Stats">Counts and step latencies of this flush.</param>
public sealed record FlushResult(
    IReadOnlyList<FlushedSegment> Segments,
    IReadOnlyList<SegmentLoss> Losses,
    bool AnyShardAtLimit,
    FlushStatsSnapshot Stats);

/// <summary>Counts and step latencies of one flush.</summary>
/// <param name="Candidates">Queue entries past their deadline that were read.</param>
/// <param name="LocksAcquired">Candidates this flush locked (all of them when locking is off).</param>
/// <param name="LockContention">Candidates another flusher held.</param>
/// <param name="SegmentsLoaded">Segments loaded.</param>
/// <param name="EmptySegments">Loaded segments with no spans.</param>
/// <param name="SegmentsWithRoot">Segments that contain their root span.</param>
/// <param name="SpansFlushed">Spans in the flushed segments.</param>
/// <param name="DroppedSpans">Spans counted at ingest but not found.</param>
/// <param name="InvalidPayloads">Stored payloads that were not JSON objects.</param>
/// <param name="ExpiredSegments">Empty segments whose data expired before the flush.</param>
/// <param name="CorruptEntries">Queue members, counters and keys that were corrupt and skipped (see the CorruptEntriesSkipped log event).</param>
/// <param name="AnyShardAtLimit">Whether a segment reached the per-shard flush limit.</param>
/// <param name="FailedShards">Shards whose queue could not be read (see the ShardFlushFailed log event); the others flushed.</param>
/// <param name="LoadCandidates">Time spent reading the queues.</param>
/// <param name="AcquireLocks">Time spent taking flush locks.</param>
/// <param name="LoadData">Time spent loading segment data (includes decompression).</param>
/// <param name="Decompress">Time spent decompressing payloads.</param>
/// <param name="Build">Time spent enriching spans.</param>
/// <param name="Total">Time for the whole flush.</param>
public sealed record FlushStatsSnapshot(
    int Candidates,
    int LocksAcquired,
    int LockContention,
    int SegmentsLoaded,
    int EmptySegments,
    int SegmentsWithRoot,
    long SpansFlushed,
    long DroppedSpans,
    long InvalidPayloads,
    long ExpiredSegments,
    long CorruptEntries,
    bool AnyShardAtLimit,
    int FailedShards,
    TimeSpan LoadCandidates,
    TimeSpan AcquireLocks,
    TimeSpan LoadData,
    TimeSpan Decompress,
    TimeSpan Build,
    TimeSpan Total);
