using Microsoft.Extensions.Logging;
using SpanBuffer.Diagnostics;

namespace SpanBuffer.Flush;

/// <summary>
/// Everything one flush learns about itself. Created at the start of the flush, filled in by the steps
/// (which never touch a logger or meter), published once at the end, also when a step threw.
/// </summary>
internal sealed class FlushStats(TimeProvider time)
{
    private const int MaxExampleLength = 200;

    public TimeProvider Time { get; } = time;

    public Dictionary<int, int> CandidatesPerShard { get; } = [];

    public int Candidates { get; set; }

    public int LocksAcquired { get; set; }

    public int LockContention { get; set; }

    public int SegmentsLoaded { get; set; }

    public int EmptySegments { get; set; }

    public int SegmentsWithRoot { get; set; }

    public long SpansFlushed { get; set; }

    public long DroppedSpans { get; set; }

    public long InvalidPayloads { get; set; }

    public long ExpiredSegments { get; set; }

    /// <summary>Gets or sets the queue members that were not segment keys (removed from their queue).</summary>
    public int CorruptQueueMembers { get; set; }

    /// <summary>Gets or sets the ingest counters that were not integers (read as missing).</summary>
    public int CorruptCounters { get; set; }

    /// <summary>Gets the member indexes and payload sets of the wrong type (read as empty).</summary>
    public int WrongTypeKeys { get; private set; }

    public long CorruptEntries => CorruptQueueMembers + CorruptCounters + WrongTypeKeys;

    /// <summary>Gets one corrupt key or queue member, for the log line.</summary>
    public string? CorruptExample { get; private set; }

    public bool AnyShardAtLimit { get; set; }

    /// <summary>Gets or sets the shards whose queue could not be read (the others flushed).</summary>
    public int FailedShards { get; set; }

    public List<int> SpansPerSegment { get; } = [];

    public List<long> IngestedSpansPerSegment { get; } = [];

    public List<long> IngestedBytesPerSegment { get; } = [];

    public TimeSpan LoadCandidates { get; set; }

    public TimeSpan AcquireLocks { get; set; }

    public TimeSpan LoadData { get; set; }

    public TimeSpan Decompress { get; set; }

    public TimeSpan RecordLosses { get; set; }

    public TimeSpan Build { get; set; }

    public TimeSpan Total { get; set; }

    public Exception? Error { get; set; }

    /// <summary>Counts a key of the wrong type.</summary>
    public void CountWrongTypeKey(string key)
    {
        WrongTypeKeys++;
        NoteCorrupt(key);
    }

    /// <summary>Keeps the first corrupt key or member seen, shortened, as the example the log line shows.</summary>
    public void NoteCorrupt(string example) =>
        CorruptExample ??= example.Length > MaxExampleLength ? example[..MaxExampleLength] + "…" : example;

    public FlushStatsSnapshot ToSnapshot() => new(
        Candidates,
        LocksAcquired,
        LockContention,
        SegmentsLoaded,
        EmptySegments,
        SegmentsWithRoot,
        SpansFlushed,
        DroppedSpans,
        InvalidPayloads,
        ExpiredSegments,
        CorruptEntries,
        AnyShardAtLimit,
        FailedShards,
        LoadCandidates,
        AcquireLocks,
        LoadData,
        Decompress,
        Build,
        Total);

    /// <summary>Maps every field to its instrument and writes the flush's single log line.</summary>
    public void Publish(SpanBufferMetrics metrics, ILogger logger)
    {
        var error = SpanBufferMetrics.ErrorType(Error);
        metrics.FlushDuration.Record(Total.TotalSeconds, error);
        RecordStage(metrics, "load_candidates", LoadCandidates);
        RecordStage(metrics, "acquire_locks", AcquireLocks);
        RecordStage(metrics, "load_data", LoadData);
        RecordStage(metrics, "decompress", Decompress);
        RecordStage(metrics, "record_losses", RecordLosses);
        RecordStage(metrics, "build", Build);

        foreach (var (shard, count) in CandidatesPerShard)
        {
            metrics.FlushSegments.Add(count, SpanBufferMetrics.Shard(shard));
        }

        metrics.FlushCandidates.Add(Candidates);
        metrics.FlushLocksAcquired.Add(LocksAcquired);
        metrics.FlushLockContention.Add(LockContention);
        metrics.FlushAtLimit.Add(AnyShardAtLimit ? 1 : 0);
        metrics.FlushSpans.Add(SpansFlushed);
        metrics.FlushEmptySegments.Add(EmptySegments);
        metrics.FlushSegmentsWithRoot.Add(SegmentsWithRoot);
        metrics.FlushCorruptEntries.Add(CorruptQueueMembers, SpanBufferMetrics.Kind("queue_member"));
        metrics.FlushCorruptEntries.Add(CorruptCounters, SpanBufferMetrics.Kind("counter"));
        metrics.FlushCorruptEntries.Add(WrongTypeKeys, SpanBufferMetrics.Kind("wrong_type"));
        metrics.FlushCycleSegments.Record(SegmentsLoaded);
        foreach (var spans in SpansPerSegment)
        {
            metrics.FlushSegmentSpans.Record(spans);
        }

        foreach (var count in IngestedSpansPerSegment)
        {
            metrics.FlushSegmentIngestedSpans.Record(count);
        }

        foreach (var bytes in IngestedBytesPerSegment)
        {
            metrics.FlushSegmentIngestedBytes.Record(bytes);
        }

        if (CorruptEntries > 0)
        {
            Log.CorruptEntriesSkipped(logger, CorruptEntries, CorruptQueueMembers, CorruptCounters, WrongTypeKeys, CorruptExample ?? string.Empty);
        }

        if (Error is not null)
        {
            Log.FlushFailed(logger, Error, Candidates, LocksAcquired, Total.TotalMilliseconds);
            return;
        }

        // One line per flush: a flush that found losses logs them at warning level instead of the debug line.
        if (DroppedSpans + InvalidPayloads + ExpiredSegments > 0)
        {
            Log.SpansLost(logger, SegmentsLoaded, SpansFlushed, EmptySegments, LockContention, AnyShardAtLimit, Total.TotalMilliseconds, DroppedSpans + InvalidPayloads, DroppedSpans, InvalidPayloads, ExpiredSegments);
        }
        else
        {
            Log.FlushCompleted(logger, SegmentsLoaded, SpansFlushed, EmptySegments, LockContention, AnyShardAtLimit, Total.TotalMilliseconds);
        }
    }

    private static void RecordStage(SpanBufferMetrics metrics, string stage, TimeSpan elapsed) =>
        metrics.FlushDuration.Record(elapsed.TotalSeconds, SpanBufferMetrics.Stage(stage));
}
