using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SpanBuffer.Diagnostics;

/// <summary>
/// Every instrument of the library, created once per meter. Names are <c>spanbuffer.*</c>, units UCUM, tags
/// low-cardinality (shard, stage, reason, error.type). The README lists them with the reference metric each maps.
/// </summary>
internal sealed class SpanBufferMetrics : IDisposable
{
    public const string MeterName = "SpanBuffer";

    private readonly Meter? _ownedMeter;

    public SpanBufferMetrics(IMeterFactory? meterFactory)
    {
        var options = new MeterOptions(MeterName) { Version = typeof(SpanBufferMetrics).Assembly.GetName().Version?.ToString() };
        Meter meter;
        if (meterFactory is null)
        {
            meter = _ownedMeter = new Meter(options);
        }
        else
        {
            meter = meterFactory.Create(options);
        }

        IngestSpans = meter.CreateCounter<long>("spanbuffer.ingest.spans", "{span}", "Spans ingested.");
        IngestBatchSpans = meter.CreateHistogram<long>("spanbuffer.ingest.batch.spans", "{span}", "Spans per ingest call.");
        IngestBatchRootSpans = meter.CreateHistogram<long>("spanbuffer.ingest.batch.root_spans", "{span}", "Segment (root) spans per ingest call.");
        IngestBatchTrees = meter.CreateHistogram<long>("spanbuffer.ingest.batch.subsegments", "{subsegment}", "Trees (subsegments before chunking) per ingest call.");
        IngestBatchScriptCalls = meter.CreateHistogram<long>("spanbuffer.ingest.batch.script_calls", "{call}", "Ingest script calls (chunks) per ingest call.");
        IngestDuration = meter.CreateHistogram<double>("spanbuffer.ingest.duration", "s", "Duration of an ingest call and of its stages (stage tag).");
        IngestDetachedSegments = meter.CreateCounter<long>("spanbuffer.ingest.detached_segments", "{segment}", "Subsegments written as their own segment (reason: too_large, flush_locked).");
        IngestMergedSegments = meter.CreateCounter<long>("spanbuffer.ingest.merged_segments", "{segment}", "Child segments merged into their parent's segment.");
        IngestReplayedSubsegments = meter.CreateCounter<long>("spanbuffer.ingest.replayed_subsegments", "{subsegment}", "Subsegments already stored (a replayed batch): not counted again.");
        IngestScriptReruns = meter.CreateCounter<long>("spanbuffer.ingest.script_reruns", "{trace}", "Traces whose script calls ran again, in order, after a node lost its script cache.");
        IngestPayloadBytes = meter.CreateCounter<long>("spanbuffer.ingest.payload_bytes", "By", "Payload bytes before (form=original) and after (form=stored) compression.");

        FlushDuration = meter.CreateHistogram<double>("spanbuffer.flush.duration", "s", "Duration of a flush and of its steps (stage tag).");
        FlushSegments = meter.CreateCounter<long>("spanbuffer.flush.segments", "{segment}", "Segments flushed, per shard.");
        FlushSpans = meter.CreateCounter<long>("spanbuffer.flush.spans", "{span}", "Spans flushed.");
        FlushSegmentSpans = meter.CreateHistogram<long>("spanbuffer.flush.segment.spans", "{span}", "Spans per flushed segment.");
        FlushSegmentIngestedSpans = meter.CreateHistogram<long>("spanbuffer.flush.segment.ingested_spans", "{span}", "Spans the ingest counted per flushed segment.");
        FlushSegmentIngestedBytes = meter.CreateHistogram<long>("spanbuffer.flush.segment.ingested_bytes", "By", "Raw payload bytes the ingest counted per flushed segment.");
        FlushCycleSegments = meter.CreateHistogram<long>("spanbuffer.flush.cycle.segments", "{segment}", "Segments per flush.");
        FlushSegmentsWithRoot = meter.CreateCounter<long>("spanbuffer.flush.segments_with_root", "{segment}", "Flushed segments that contain their root span.");
        FlushCandidates = meter.CreateCounter<long>("spanbuffer.flush.candidates", "{segment}", "Queue entries past their deadline that flushes read.");
        FlushLocksAcquired = meter.CreateCounter<long>("spanbuffer.flush.locks_acquired", "{segment}", "Flush candidates this buffer locked (all of them when locking is off).");
        FlushLockContention = meter.CreateCounter<long>("spanbuffer.flush.lock_contention", "{segment}", "Flush candidates whose lock another flusher held.");
        FlushAtLimit = meter.CreateCounter<long>("spanbuffer.flush.at_limit", "{flush}", "Flushes that reached the per-shard limit (the soft backpressure signal).");
        FlushEmptySegments = meter.CreateCounter<long>("spanbuffer.flush.empty_segments", "{segment}", "Flushed segments with no data (cleaned, never produced).");
        FlushLostSpans = meter.CreateCounter<long>("spanbuffer.flush.lost_spans", "{span}", "Spans lost, counted once when the segment is cleaned up (reason: dropped, invalid_payload, delivery_failed).");
        FlushExpiredSegments = meter.CreateCounter<long>("spanbuffer.flush.expired_segments", "{segment}", "Empty segments whose data expired (TTL) before the flush, counted once at cleanup.");
        FlushCorruptEntries = meter.CreateCounter<long>("spanbuffer.flush.corrupt_entries", "{entry}", "Redis entries a flush could not read and skipped (kind: queue_member, counter, wrong_type).");
        FlushShardFailures = meter.CreateCounter<long>("spanbuffer.flush.shard_failures", "{shard}", "Shards whose queue a flush could not read (shard, error.type); the other shards flushed.");
        CleanupDuration = meter.CreateHistogram<double>("spanbuffer.cleanup.duration", "s", "Duration of the cleanup after a flush was handed off.");
        CleanupSegments = meter.CreateCounter<long>("spanbuffer.cleanup.segments", "{segment}", "Segments cleaned up.");
        CleanupRequeuedSegments = meter.CreateCounter<long>("spanbuffer.cleanup.requeued_segments", "{segment}", "Cleaned segments that received spans during their flush; those stay queued.");
        CleanupCleanedElsewhere = meter.CreateCounter<long>("spanbuffer.cleanup.cleaned_elsewhere", "{segment}", "Segments another flusher had already cleaned up (delivered twice, within at-least-once).");

        QueueSize = meter.CreateGauge<long>("spanbuffer.queue.size", "{segment}", "Segments waiting in a shard's queue.");
        FlusherCycles = meter.CreateCounter<long>("spanbuffer.flusher.cycles", "{cycle}", "Flusher cycles (error.type set when a cycle failed).");
        FlusherDuration = meter.CreateHistogram<double>("spanbuffer.flusher.duration", "s", "Flusher stage durations (stage: produce, wait_produce, cleanup).");
        FlusherMessageSize = meter.CreateHistogram<long>("spanbuffer.flusher.message.size", "By", "Size of each segment message handed to the sink.");
        FlusherChunkedSegments = meter.CreateCounter<long>("spanbuffer.flusher.chunked_segments", "{segment}", "Oversized segments split into several messages.");
        FlusherBackpressure = meter.CreateCounter<long>("spanbuffer.flusher.backpressure", "{check}", "Backpressure checks that asked ingest to pause (kind: soft, hard).");
        FlusherDrift = meter.CreateGauge<double>("spanbuffer.flusher.drift", "s", "Message clock minus wall clock, as driven by the host.");
        FlusherUnhealthy = meter.CreateCounter<long>("spanbuffer.flusher.unhealthy", "{check}", "Health checks that found the flusher heartbeat too old.");
        FlusherFailedDeliveries = meter.CreateCounter<long>("spanbuffer.flusher.failed_deliveries", "{segment}", "Segment delivery attempts that failed (the segment stays in Redis for retry or is given up on).");
        FlusherAbandonedSegments = meter.CreateCounter<long>("spanbuffer.flusher.abandoned_segments", "{segment}", "Segments given up on after MaxDeliveryAttempts failed deliveries (kind: dead_lettered, lost).");
        FlusherBackoff = meter.CreateHistogram<double>("spanbuffer.flusher.backoff", "s", "Delays after flusher cycles that made no progress.");
        RedisMemoryRatio = meter.CreateGauge<double>("spanbuffer.redis.memory.utilization", "1", "Redis used/available memory summed over primaries.");
    }

    public Counter<long> IngestSpans { get; }

    public Histogram<long> IngestBatchSpans { get; }

    public Histogram<long> IngestBatchRootSpans { get; }

    public Histogram<long> IngestBatchTrees { get; }

    public Histogram<long> IngestBatchScriptCalls { get; }

    public Histogram<double> IngestDuration { get; }

    public Counter<long> IngestDetachedSegments { get; }

    public Counter<long> IngestReplayedSubsegments { get; }

    public Counter<long> IngestScriptReruns { get; }

    public Counter<long> IngestMergedSegments { get; }

    public Counter<long> IngestPayloadBytes { get; }

    public Histogram<double> FlushDuration { get; }

    public Counter<long> FlushSegments { get; }

    public Counter<long> FlushSpans { get; }

    public Histogram<long> FlushSegmentSpans { get; }

    public Histogram<long> FlushSegmentIngestedSpans { get; }

    public Histogram<long> FlushSegmentIngestedBytes { get; }

    public Histogram<long> FlushCycleSegments { get; }

    public Counter<long> FlushSegmentsWithRoot { get; }

    public Counter<long> FlushCandidates { get; }

    public Counter<long> FlushLocksAcquired { get; }

    public Counter<long> FlushLockContention { get; }

    public Counter<long> FlushAtLimit { get; }

    public Counter<long> FlushEmptySegments { get; }

    public Counter<long> FlushLostSpans { get; }

    public Counter<long> FlushExpiredSegments { get; }

    public Counter<long> FlushShardFailures { get; }

    public Counter<long> CleanupRequeuedSegments { get; }

    public Counter<long> CleanupCleanedElsewhere { get; }

    public Counter<long> FlushCorruptEntries { get; }

    public Histogram<double> CleanupDuration { get; }

    public Counter<long> CleanupSegments { get; }

    public Gauge<long> QueueSize { get; }

    public Counter<long> FlusherCycles { get; }

    public Histogram<double> FlusherDuration { get; }

    public Histogram<long> FlusherMessageSize { get; }

    public Counter<long> FlusherChunkedSegments { get; }

    public Counter<long> FlusherBackpressure { get; }

    public Gauge<double> FlusherDrift { get; }

    public Counter<long> FlusherUnhealthy { get; }

    public Counter<long> FlusherFailedDeliveries { get; }

    public Counter<long> FlusherAbandonedSegments { get; }

    public Histogram<double> FlusherBackoff { get; }

    public Gauge<double> RedisMemoryRatio { get; }

    public static KeyValuePair<string, object?> Stage(string stage) => new("stage", stage);

    public static KeyValuePair<string, object?> Shard(int shard) => new("shard", shard);

    public static KeyValuePair<string, object?> Reason(string reason) => new("reason", reason);

    public static KeyValuePair<string, object?> Kind(string kind) => new("kind", kind);

    public static TagList ErrorType(Exception? error)
    {
        var tags = default(TagList);
        if (error is not null)
        {
            tags.Add("error.type", error.GetType().FullName);
        }

        return tags;
    }

    public void Dispose() => _ownedMeter?.Dispose();
}
