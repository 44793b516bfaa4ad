using System.Diagnostics;
using SpanBuffer.Diagnostics;
using SpanBuffer.Flush;
using SpanBuffer.Models;
using SpanBuffer.Redis;
using StackExchange.Redis;

namespace SpanBuffer;

public sealed partial class SpansBuffer
{
    /// <summary>
    /// Flushes the assigned shards: takes every segment whose deadline is at most <paramref name="now"/> (bounded by
    /// the max-flush-segments option), locks, loads and enriches it. Nothing is deleted: hand the segments off, then
    /// call <see cref="DoneFlushSegmentsAsync(IReadOnlyList{FlushedSegment}, CancellationToken)"/>.
    /// </summary>
    /// <param name="now">The flush clock in integer Unix seconds.</param>
    /// <param name="cancellationToken">Stops waiting; a cancelled flush leaves its locks to expire.</param>
    /// <returns>The segments, the losses found and the flush statistics.</returns>
    /// <exception cref="RedisException">
    /// Redis failed a command other than one shard's queue read (a shard whose queue cannot be read is skipped, logged
    /// and counted, and the others flush): nothing was deleted, so the segments flush again.
    /// </exception>
    /// <exception cref="RedisTimeoutException">Redis did not answer in time; as for <see cref="RedisException"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<FlushResult> FlushSegmentsAsync(long now, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var flush = new FlushContext(this, now);
        try
        {
            if (flush.Shards.Count == 0)
            {
                // A consumer without partitions owns no queue: nothing to read, nothing to return.
                flush.StopClock();
                return new FlushResult([], [], false, flush.Stats.ToSnapshot());
            }

            var candidates = await LoadFlushCandidatesAsync(flush, cancellationToken).ConfigureAwait(false);
            var locked = await AcquireLocksForFlushCandidatesAsync(flush, candidates, cancellationToken).ConfigureAwait(false);
            var loaded = await LoadSegmentDataAsync(flush, locked, cancellationToken).ConfigureAwait(false);
            var built = BuildFlushedSegments(flush, loaded);
            var losses = await RecordSegmentLossMetricsAsync(flush, built, cancellationToken).ConfigureAwait(false);
            flush.StopClock();
            var segments = SegmentAssembler.Distinct(built);
            if (flush.Options.LogFlushedSegments)
            {
                foreach (var segment in segments)
                {
                    Log.SegmentFlushed(flush.Logger, segment.SegmentKey, segment.QueueKey, segment.Spans.Count, segment.ProjectId);
                }
            }

            return new FlushResult(segments, losses, flush.Stats.AnyShardAtLimit, flush.Stats.ToSnapshot());
        }
        catch (Exception ex)
        {
            flush.Stats.Error = ex;
            throw;
        }
        finally
        {
            flush.Complete();
        }
    }

    private static async Task<IReadOnlyList<FlushCandidate>> LoadFlushCandidatesAsync(FlushContext flush, CancellationToken cancellationToken)
    {
        var started = flush.Time.GetTimestamp();
        var (candidates, corrupt, failed) = await flush.Store.LoadFlushCandidatesAsync(flush.Shards, flush.Now, flush.MaxSegmentsPerShard).WaitAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (shard, error) in failed)
        {
            // One broken queue must not stop the healthy shards: report it every flush until it is repaired.
            flush.Stats.FailedShards++;
            var tags = SpanBufferMetrics.ErrorType(error);
            tags.Add(SpanBufferMetrics.Shard(shard.Shard));
            flush.Metrics.FlushShardFailures.Add(1, tags);
            Log.ShardFlushFailed(flush.Logger, error, shard.Shard, shard.QueueKey);
        }

        if (corrupt.Count > 0)
        {
            // Not segments, so nothing to hand off: remove them now, or they would come back every cycle.
            flush.Stats.CorruptQueueMembers = corrupt.Count;
            flush.Stats.NoteCorrupt($"{corrupt[0].QueueKey} member {corrupt[0].Member}");
            await flush.Store.RemoveQueueMembersAsync(corrupt).WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        flush.Stats.Candidates = candidates.Count;
        flush.Stats.LoadCandidates = flush.Time.GetElapsedTime(started);
        return candidates;
    }

    private static async Task<IReadOnlyList<FlushCandidate>> AcquireLocksForFlushCandidatesAsync(FlushContext flush, IReadOnlyList<FlushCandidate> candidates, CancellationToken cancellationToken)
    {
        var started = flush.Time.GetTimestamp();
        var locked = candidates.Count == 0 || flush.Options.FlushLockTtl <= TimeSpan.Zero
            ? candidates
            : await flush.Store.AcquireFlushLocksAsync(candidates, flush.Options.FlushLockTtl, flush.LockToken).WaitAsync(cancellationToken).ConfigureAwait(false);
        flush.Stats.LocksAcquired = locked.Count;
        flush.Stats.LockContention = candidates.Count - locked.Count;
        flush.Stats.AcquireLocks = flush.Time.GetElapsedTime(started);
        return locked;
    }

    private static async Task<IReadOnlyList<LoadedSegment>> LoadSegmentDataAsync(FlushContext flush, IReadOnlyList<FlushCandidate> locked, CancellationToken cancellationToken)
    {
        var started = flush.Time.GetTimestamp();
        var loaded = await flush.Store.LoadSegmentsAsync(SegmentAssembler.LastPerSegmentKey(locked), flush.Options.SegmentPageSize, flush.Stats, flush.Arena, flush.LockToken).WaitAsync(cancellationToken).ConfigureAwait(false);
        flush.Stats.SegmentsLoaded = loaded.Count;
        flush.Stats.LoadData = flush.Time.GetElapsedTime(started);
        return loaded;
    }

    private static IReadOnlyList<BuiltSegment> BuildFlushedSegments(FlushContext flush, IReadOnlyList<LoadedSegment> loaded)
    {
        var started = flush.Time.GetTimestamp();
        var built = SegmentAssembler.Build(loaded, flush.MaxSegmentsPerShard, flush.Stats);
        flush.Stats.Build = flush.Time.GetElapsedTime(started);
        return built;
    }

    private static async Task<IReadOnlyList<SegmentLoss>> RecordSegmentLossMetricsAsync(FlushContext flush, IReadOnlyList<BuiltSegment> built, CancellationToken cancellationToken)
    {
        var started = flush.Time.GetTimestamp();
        var needingDeadline = SegmentLosses.NeedingDeadline(built);
        var deadlines = needingDeadline.Count == 0
            ? []
            : await flush.Store.GetQueueDeadlinesAsync(needingDeadline).WaitAsync(cancellationToken).ConfigureAwait(false);
        var settings = new LossSettings(Seconds(flush.Options.RootTimeout), Seconds(flush.Options.RedisTtl));
        var losses = SegmentLosses.Compute(built, deadlines, flush.Now, settings, flush.Stats);
        flush.Stats.RecordLosses = flush.Time.GetElapsedTime(started);
        return losses;
    }

    /// <summary>Logs when a flush reads other shards than the flush before it (an assignment change took effect).</summary>
    private void NoteFlushedShards(IReadOnlyList<QueueShard> shards)
    {
        int[] current = [.. shards.Select(shard => shard.Shard)];
        var previous = Interlocked.Exchange(ref _lastFlushedShards, current);
        if (previous is not null && !previous.AsSpan().SequenceEqual(current))
        {
            Log.FlushShardsChanged(_logger, string.Join(',', current), string.Join(',', previous));
        }
    }

    /// <summary>What one flush works with: an options snapshot, the store, its stats and its activity.</summary>
    private sealed class FlushContext
    {
        private readonly SpansBuffer _buffer;
        private readonly long _started;
        private readonly Activity? _activity;

        public FlushContext(SpansBuffer buffer, long now)
        {
            _buffer = buffer;
            Now = now;
            Options = buffer.CurrentOptions;
            Store = buffer.CreateStore(Options);
            Shards = QueueShards(Options, buffer.AssignedShardsFor(Options));
            MaxSegmentsPerShard = Shards.Count == 0 ? 0 : (Options.MaxFlushSegments + Shards.Count - 1) / Shards.Count;
            buffer.NoteFlushedShards(Shards);
            Stats = new FlushStats(buffer.Time);
            Arena = buffer._arenas.Rent();
            _activity = SpanBufferActivities.Source.StartActivity("spanbuffer.flush");
            _started = buffer.Time.GetTimestamp();
        }

        public long Now { get; }

        /// <summary>Gets the value of this flush's locks and fences: only this flush's cleanup releases them.</summary>
        public string LockToken { get; } = Guid.NewGuid().ToString("N");

        public SpanBufferOptions Options { get; }

        public RedisSpanStore Store { get; }

        public IReadOnlyList<QueueShard> Shards { get; }

        public int MaxSegmentsPerShard { get; }

        public FlushStats Stats { get; }

        /// <summary>Gets the memory of decompressed payloads, reused once the flush completes (spans are copied out by then).</summary>
        public PayloadArena Arena { get; }

        public TimeProvider Time => _buffer.Time;

        public SpanBufferMetrics Metrics => _buffer.Metrics;

        public Microsoft.Extensions.Logging.ILogger Logger => _buffer.Logger;

        public void StopClock()
        {
            if (Stats.Total == TimeSpan.Zero)
            {
                Stats.Total = Time.GetElapsedTime(_started);
            }
        }

        public void Complete()
        {
            StopClock();
            if (Stats.Error is null)
            {
                // After a failure or cancellation a load may still be writing into it: leave it to the GC.
                _buffer._arenas.Return(Arena);
            }
            Stats.Publish(_buffer.Metrics, _buffer.Logger);
            if (_activity is not null)
            {
                _activity.SetTag("spanbuffer.segments", Stats.SegmentsLoaded);
                _activity.SetTag("spanbuffer.spans", Stats.SpansFlushed);
                if (Stats.Error is not null)
                {
                    _activity.SetStatus(ActivityStatusCode.Error, Stats.Error.GetType().Name);
                }

                _activity.Dispose();
            }
        }
    }
}
