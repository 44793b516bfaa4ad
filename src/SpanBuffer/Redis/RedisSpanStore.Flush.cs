using SpanBuffer.Flush;
using SpanBuffer.Ingest;
using SpanBuffer.Models;
using StackExchange.Redis;

namespace SpanBuffer.Redis;

/// <summary>A queue this buffer flushes: one assigned shard and its key.</summary>
internal readonly record struct QueueShard(int Shard, string QueueKey);

internal sealed partial class RedisSpanStore
{
    private const int CleanupBatchSize = 100;

    /// <summary>Per shard, the segments whose deadline is at most <paramref name="now"/>, oldest first (reference §4.2).</summary>
    public async Task<IReadOnlyList<FlushCandidate>> LoadFlushCandidatesAsync(IReadOnlyList<QueueShard> shards, long now, int maxPerShard)
    {
        var pending = new List<(QueueShard Shard, Task<SortedSetEntry[]> Reply)>(shards.Count);
        foreach (var shard in shards)
        {
            pending.Add((shard, _database.SortedSetRangeByScoreWithScoresAsync(shard.QueueKey, 0, now, Exclude.None, Order.Ascending, 0, maxPerShard)));
        }

        await WhenAllAnswered(pending.Select(p => p.Reply)).ConfigureAwait(false);
        var candidates = new List<FlushCandidate>();
        foreach (var (shard, reply) in pending)
        {
            foreach (var entry in await reply.ConfigureAwait(false))
            {
                candidates.Add(new FlushCandidate(shard.Shard, shard.QueueKey, entry.Element!, (long)entry.Score));
            }
        }

        return candidates;
    }

    /// <summary>Takes a <c>SET NX EX</c> flush lock per candidate and keeps the winners, in order (reference §4.3).</summary>
    public async Task<IReadOnlyList<FlushCandidate>> AcquireFlushLocksAsync(IReadOnlyList<FlushCandidate> candidates, TimeSpan lockTtl)
    {
        var pending = new List<(FlushCandidate Candidate, Task<bool> Won)>(candidates.Count);
        foreach (var candidate in candidates)
        {
            pending.Add((candidate, _database.StringSetAsync(_keys.FlushLockKey(candidate.SegmentKey), "1", lockTtl, When.NotExists)));
        }

        await WhenAllAnswered(pending.Select(p => p.Won)).ConfigureAwait(false);
        var locked = new List<FlushCandidate>(pending.Count);
        foreach (var (candidate, won) in pending)
        {
            if (await won.ConfigureAwait(false))
            {
                locked.Add(candidate);
            }
        }

        return locked;
    }

    /// <summary>
    /// Loads each candidate's member index, payload sets (paged <c>SSCAN</c>, decompressed) and ingest counters
    /// (reference §4.4). A payload key listed by several segments feeds only the last of them. Decompressed payloads
    /// live in <paramref name="arena"/> when given: the loaded segments are valid until it is reset.
    /// </summary>
    public async Task<IReadOnlyList<LoadedSegment>> LoadSegmentsAsync(IReadOnlyList<FlushCandidate> candidates, int pageSize, FlushStats stats, PayloadArena? arena = null)
    {
        var indexes = new List<(FlushCandidate Candidate, SegmentKey Segment, Task<RedisValue[]> Members)>(candidates.Count);
        foreach (var candidate in candidates)
        {
            var segment = SegmentKey.Parse(candidate.SegmentKey);
            indexes.Add((candidate, segment, _database.SetMembersAsync(_keys.MemberKeysKey(segment))));
        }

        await WhenAllAnswered(indexes.Select(i => i.Members)).ConfigureAwait(false);
        var owners = new Dictionary<string, int>(StringComparer.Ordinal);
        var segments = new List<PendingSegment>(indexes.Count);
        foreach (var (candidate, segment, members) in indexes)
        {
            var payloadKeys = new List<string>();
            foreach (var salt in await members.ConfigureAwait(false))
            {
                var payloadKey = _keys.PayloadKeyFromMember(segment, salt!);
                payloadKeys.Add(payloadKey);
                owners[payloadKey] = segments.Count;
            }

            // Both counters share the segment's hash tag, so one MGET reads them.
            segments.Add(new PendingSegment(
                candidate,
                payloadKeys,
                _database.StringGetAsync([_keys.IngestedCountKey(candidate.SegmentKey), _keys.IngestedBytesKey(candidate.SegmentKey)])));
        }

        var scans = new List<(int Owner, Task<List<RedisValue>> Members)>(owners.Count);
        foreach (var (payloadKey, owner) in owners)
        {
            scans.Add((owner, ScanAsync(payloadKey, pageSize)));
        }

        await WhenAllAnswered(scans.Select(s => (Task)s.Members).Concat(segments.Select(s => s.Counters))).ConfigureAwait(false);
        var payloads = new List<ReadOnlyMemory<byte>>[segments.Count];
        foreach (var (owner, members) in scans)
        {
            var list = payloads[owner] ??= [];
            var scanned = await members.ConfigureAwait(false);
            var started = stats.Time.GetTimestamp();
            foreach (var member in scanned)
            {
                PayloadCodec.Decode((ReadOnlyMemory<byte>)member, list, arena);
            }

            stats.Decompress += stats.Time.GetElapsedTime(started);
        }

        var loaded = new List<LoadedSegment>(segments.Count);
        for (var i = 0; i < segments.Count; i++)
        {
            var segment = segments[i];
            var counters = await segment.Counters.ConfigureAwait(false);
            var metadata = new SegmentIngestMetadata(ToInt64(counters[0]), ToInt64(counters[1]));
            loaded.Add(new LoadedSegment(segment.Candidate, payloads[i] ?? [], segment.PayloadKeys, metadata));
        }

        return loaded;
    }

    /// <summary>The current queue deadline of each candidate, <see langword="null"/> when it is no longer queued.</summary>
    public async Task<IReadOnlyList<(FlushCandidate Candidate, long? Deadline)>> GetQueueDeadlinesAsync(IReadOnlyList<FlushCandidate> candidates)
    {
        var pending = new List<(FlushCandidate Candidate, Task<double?> Score)>(candidates.Count);
        foreach (var candidate in candidates)
        {
            pending.Add((candidate, _database.SortedSetScoreAsync(candidate.QueueKey, candidate.SegmentKey)));
        }

        await WhenAllAnswered(pending.Select(p => p.Score)).ConfigureAwait(false);
        var deadlines = new List<(FlushCandidate, long?)>(pending.Count);
        foreach (var (candidate, score) in pending)
        {
            deadlines.Add((candidate, (long?)await score.ConfigureAwait(false)));
        }

        return deadlines;
    }

    /// <summary>
    /// Deletes what was flushed (reference §4.8): metadata, redirects of the flushed spans, the member index and
    /// payload sets when they were loaded, the flush lock, and the queue entries.
    /// </summary>
    public async Task CleanupFlushedSegmentsAsync(IReadOnlyList<FlushedSegment> segments)
    {
        var writes = new List<Task>();
        var queueRemovals = new Dictionary<string, List<RedisValue>>(StringComparer.Ordinal);

        // One UNLINK per hash slot: payload sets spread over the cluster, so there it is mostly one per key; a
        // standalone server (no slots) takes them all in one command. UNLINK frees large sets off the main thread.
        var payloadKeysBySlot = new Dictionary<int, List<RedisKey>>();
        foreach (var flushed in segments)
        {
            var segmentKey = flushed.SegmentKey;
            var segment = SegmentKey.Parse(segmentKey);

            // One DEL: these keys share the segment's hash tag. The lock goes with the data, atomically.
            var metadataKeys = new List<RedisKey>(5)
            {
                _keys.HasRootKey(segmentKey),
                _keys.IngestedCountKey(segmentKey),
                _keys.IngestedBytesKey(segmentKey),
                _keys.FlushLockKey(segmentKey),
            };
            if (flushed.PayloadKeys.Count > 0)
            {
                metadataKeys.Add(_keys.MemberKeysKey(segment));
            }

            writes.Add(_database.KeyDeleteAsync(metadataKeys.ToArray()));

            var redirectKey = _keys.RedirectKey(KeySchema.ProjectAndTrace(segment.ProjectId, segment.TraceId));
            foreach (var batch in flushed.Spans.Chunk(CleanupBatchSize))
            {
                writes.Add(_database.HashDeleteAsync(redirectKey, batch.Select(s => (RedisValue)s.SpanId).ToArray()));
            }

            foreach (var payloadKey in flushed.PayloadKeys)
            {
                GetOrAdd(payloadKeysBySlot, _database.Multiplexer.HashSlot(payloadKey)).Add(payloadKey);
            }

            GetOrAdd(queueRemovals, flushed.QueueKey).Add(segmentKey);
        }

        foreach (var keys in payloadKeysBySlot.Values)
        {
            foreach (var batch in keys.Chunk(CleanupBatchSize))
            {
                writes.Add(_database.ExecuteAsync("UNLINK", batch.Cast<object>().ToArray()));
            }
        }

        foreach (var (queueKey, members) in queueRemovals)
        {
            foreach (var batch in members.Chunk(CleanupBatchSize))
            {
                writes.Add(_database.SortedSetRemoveAsync(queueKey, batch));
            }
        }

        await Task.WhenAll(writes).ConfigureAwait(false);
    }

    /// <summary>Pages through a payload set with <c>SSCAN</c>; most sets fit one page, so one round trip.</summary>
    private async Task<List<RedisValue>> ScanAsync(string payloadKey, int pageSize)
    {
        var members = new List<RedisValue>();
        RedisKey key = payloadKey;
        var cursor = 0L;
        do
        {
            var page = await _database.ExecuteAsync("SSCAN", key, cursor, "COUNT", pageSize).ConfigureAwait(false);
            cursor = (long)page[0];
            foreach (var member in (RedisValue[])page[1]!)
            {
                members.Add(member);
            }
        }
        while (cursor != 0);

        return members;
    }

    private static long? ToInt64(RedisValue value) => value.IsNull ? null : (long)value;

    private sealed record PendingSegment(
        FlushCandidate Candidate,
        IReadOnlyList<string> PayloadKeys,
        Task<RedisValue[]> Counters);
}
