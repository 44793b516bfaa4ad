using Microsoft.Extensions.Logging;

namespace SpanBuffer.Diagnostics;

/// <summary>
/// Every log event of the library. Event ids and names are a contract (hosts filter and alert on them):
/// never renumber or rename one. Events are per batch or per cycle, never per span, and never carry payloads.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Debug, "Ingested {SpanCount} spans as {SubsegmentCount} subsegments ({DetachedCount} detached, {MergedCount} merged) in {ElapsedMs:F1} ms", EventName = "IngestCompleted")]
    public static partial void IngestCompleted(ILogger logger, int spanCount, int subsegmentCount, int detachedCount, int mergedCount, double elapsedMs);

    [LoggerMessage(2, LogLevel.Debug, "Flushed {SegmentCount} segments ({SpanCount} spans, {EmptyCount} empty, {ContendedCount} lock contentions, at limit: {AnyShardAtLimit}) in {ElapsedMs:F1} ms", EventName = "FlushCompleted")]
    public static partial void FlushCompleted(ILogger logger, int segmentCount, long spanCount, int emptyCount, int contendedCount, bool anyShardAtLimit, double elapsedMs);

    [LoggerMessage(3, LogLevel.Error, "Flush failed after {ElapsedMs:F1} ms ({CandidateCount} candidates, {LockedCount} locked)", EventName = "FlushFailed")]
    public static partial void FlushFailed(ILogger logger, Exception exception, int candidateCount, int lockedCount, double elapsedMs);

    [LoggerMessage(4, LogLevel.Warning, "Flushed {SegmentCount} segments ({SpanCount} spans, {EmptyCount} empty, {ContendedCount} lock contentions, at limit: {AnyShardAtLimit}) in {ElapsedMs:F1} ms and lost {LostSpanCount} spans: {DroppedCount} ingested but missing, {InvalidCount} not JSON objects; {ExpiredSegmentCount} segments expired before the flush", EventName = "SpansLost")]
    public static partial void SpansLost(ILogger logger, int segmentCount, long spanCount, int emptyCount, int contendedCount, bool anyShardAtLimit, double elapsedMs, long lostSpanCount, long droppedCount, long invalidCount, long expiredSegmentCount);

    [LoggerMessage(6, LogLevel.Warning, "Flush skipped {CorruptCount} corrupt Redis entries: {QueueMemberCount} queue members that are not segment keys (removed from their queue), {CounterCount} ingest counters that are not integers (read as missing), {WrongTypeCount} member indexes or payload sets of the wrong type (read as empty); for example {Example}", EventName = "CorruptEntriesSkipped")]
    public static partial void CorruptEntriesSkipped(ILogger logger, long corruptCount, int queueMemberCount, int counterCount, int wrongTypeCount, string example);

    [LoggerMessage(5, LogLevel.Debug, "Cleaned up {SegmentCount} flushed segments in {ElapsedMs:F1} ms", EventName = "CleanupCompleted")]
    public static partial void CleanupCompleted(ILogger logger, int segmentCount, double elapsedMs);

    [LoggerMessage(30, LogLevel.Warning, "Cleanup of {SegmentCount} segments made {LostSpanCount} lost spans final: {DroppedCount} ingested but missing, {InvalidCount} not JSON objects, {DeliveryFailedCount} undeliverable; {ExpiredSegmentCount} segments expired before their flush", EventName = "LossesFinal")]
    public static partial void LossesFinal(ILogger logger, int segmentCount, long lostSpanCount, long droppedCount, long invalidCount, long deliveryFailedCount, long expiredSegmentCount);

    [LoggerMessage(31, LogLevel.Error, "Flush could not read the queue of shard {Shard} ({QueueKey}); the other shards flushed", EventName = "ShardFlushFailed")]
    public static partial void ShardFlushFailed(ILogger logger, Exception exception, int shard, string queueKey);

    [LoggerMessage(32, LogLevel.Information, "Flushing shards [{Shards}] from now on (before: [{PreviousShards}])", EventName = "FlushShardsChanged")]
    public static partial void FlushShardsChanged(ILogger logger, string shards, string previousShards);

    [LoggerMessage(33, LogLevel.Information, "Flushed segment {SegmentKey} from {QueueKey}: {SpanCount} spans, project {ProjectId}", EventName = "SegmentFlushed")]
    public static partial void SegmentFlushed(ILogger logger, string segmentKey, string queueKey, int spanCount, long projectId);

    [LoggerMessage(10, LogLevel.Information, "Span flusher started for shards {Shards}", EventName = "FlusherStarted")]
    public static partial void FlusherStarted(ILogger logger, string shards);

    [LoggerMessage(11, LogLevel.Information, "Span flusher stopped for shards {Shards}", EventName = "FlusherStopped")]
    public static partial void FlusherStopped(ILogger logger, string shards);

    [LoggerMessage(12, LogLevel.Error, "Span flusher cycle failed; its segments stay in Redis and are retried next cycle", EventName = "FlusherCycleFailed")]
    public static partial void FlusherCycleFailed(ILogger logger, Exception exception);

    [LoggerMessage(13, LogLevel.Warning, "Soft backpressure: flushing has been at its per-shard limit for {Seconds} s", EventName = "SoftBackpressure")]
    public static partial void SoftBackpressure(ILogger logger, long seconds);

    [LoggerMessage(14, LogLevel.Critical, "Pausing consumer due to Redis being full: {UsedBytes} of {AvailableBytes} bytes used (limit ratio {Ratio})", EventName = "HardBackpressure")]
    public static partial void HardBackpressure(ILogger logger, long usedBytes, long availableBytes, double ratio);

    [LoggerMessage(15, LogLevel.Warning, "Span flusher heartbeat is {AgeSeconds:F0} s old (limit {LimitSeconds:F0} s)", EventName = "FlusherUnhealthy")]
    public static partial void FlusherUnhealthy(ILogger logger, double ageSeconds, double limitSeconds);

    [LoggerMessage(16, LogLevel.Warning, "Memory check failed; hard backpressure state unchanged", EventName = "MemoryCheckFailed")]
    public static partial void MemoryCheckFailed(ILogger logger, Exception exception);

    [LoggerMessage(20, LogLevel.Warning, "Span flusher: {FailedCount} of {SegmentCount} segments failed delivery and stay in Redis for retry; {CleanedCount} segments were cleaned", EventName = "SegmentDeliveryFailed")]
    public static partial void SegmentDeliveryFailed(ILogger logger, int failedCount, int segmentCount, int cleanedCount, Exception exception);

    [LoggerMessage(21, LogLevel.Warning, "Span flusher handed segment {SegmentKey} ({SpanCount} spans) to the dead-letter sink after {Attempts} failed delivery attempts", EventName = "SegmentDeadLettered")]
    public static partial void SegmentDeadLettered(ILogger logger, string segmentKey, int spanCount, int attempts, Exception exception);

    [LoggerMessage(22, LogLevel.Error, "Span flusher gave up on segment {SegmentKey} of project {ProjectId} after {Attempts} failed delivery attempts: {SpanCount} spans counted as lost (DeliveryFailed)", EventName = "SegmentDeliveryAbandoned")]
    public static partial void SegmentDeliveryAbandoned(ILogger logger, string segmentKey, long projectId, int spanCount, int attempts, Exception exception);

    [LoggerMessage(23, LogLevel.Error, "Span flusher dead-letter sink failed for segment {SegmentKey}; treated as not taken", EventName = "DeadLetterFailed")]
    public static partial void DeadLetterFailed(ILogger logger, string segmentKey, Exception exception);

    [LoggerMessage(24, LogLevel.Warning, "Span flusher made no progress for {FailedCycles} cycles in a row; next cycle in {DelaySeconds:F1} s", EventName = "FlusherBackingOff")]
    public static partial void FlusherBackingOff(ILogger logger, int failedCycles, double delaySeconds);

    [LoggerMessage(25, LogLevel.Warning, "Span flusher could not hand back the flush locks of {SegmentCount} segments of a cycle that ended before its cleanup; they expire after the lock TTL", EventName = "CycleLocksKept")]
    public static partial void CycleLocksKept(ILogger logger, Exception exception, int segmentCount);
}
