using System.Runtime.ExceptionServices;
using SpanBuffer.Flush;
using SpanBuffer.Ingest;
using SpanBuffer.Models;
using StackExchange.Redis;

namespace SpanBuffer.Redis;

/// <summary>A queue this buffer flushes: one assigned shard and its key.</summary>
internal readonly record struct QueueShard(int Shard, string QueueKey);

internal sealed partial class RedisSpanStore
{
    /// <summary>Redirect fields per HDEL and queue entries per ZREM, as the reference batches them.</summary>
    private const int CleanupBatchSize = 100;

    /// <summary>Keys per multi-key command (MGET, UNLINK) on a standalone server, where all keys share one "slot".</summary>
    private const int MaxKeysPerCommand = 1000;

    /// <summary>
    /// Per shard, the segments whose deadline is at most <paramref name="now"/>, oldest first (reference §4.2). Queue
    /// members that are not segment keys (corruption, a foreign writer) come back apart, so they can be removed
    /// instead of failing every flush of their shard.
    /// </summary>
    public async Task<LoadedCandidates> LoadFlushCandidatesAsync(IReadOnlyList<QueueShard> shards, long now, int maxPerShard)
    {
        var pending = new List<(QueueShard Shard, Task<SortedSetEntry[]> Reply)>(shards.Count);
        foreach (var shard in shards)
        {
            pending.Add((shard, _database.SortedSetRangeByScoreWithScoresAsync(shard.QueueKey, 0, now, Exclude.None, Order.Ascending, 0, maxPerShard)));
        }

        await WhenAllAnswered(pending.Select(p => p.Reply)).ConfigureAwait(false);
        var candidates = new List<FlushCandidate>();
        var corrupt = new List<CorruptQueueMember>();
        foreach (var (shard, reply) in pending)
        {
            foreach (var entry in await reply.ConfigureAwait(false))
            {
                if (KeySchema.TryReadSegmentKey(entry.Element, out var segmentKey))
                {
                    candidates.Add(new FlushCandidate(shard.Shard, shard.QueueKey, segmentKey, (long)entry.Score));
                }
                else
                {
                    corrupt.Add(new CorruptQueueMember(shard.QueueKey, entry.Element));
                }
            }
        }

        return new LoadedCandidates(candidates, corrupt);
    }

    /// <summary>Removes queue members that are not segment keys: there is nothing to deliver for them.</summary>
    public async Task RemoveQueueMembersAsync(IReadOnlyList<CorruptQueueMember> members)
    {
        var removals = new List<Task>();
        foreach (var queue in members.GroupBy(m => m.QueueKey, StringComparer.Ordinal))
        {
            foreach (var batch in queue.Select(m => m.Member).Chunk(CleanupBatchSize))
            {
                removals.Add(_database.SortedSetRemoveAsync(queue.Key, batch));
            }
        }

        await Task.WhenAll(removals).ConfigureAwait(false);
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
    /// <remarks>
    /// Counters are read with one <c>MGET</c> per hash slot (on a standalone server a few per flush, on a cluster one
    /// per segment). Corrupt data does not fail the flush: a counter that is not an integer reads as missing, and an
    /// index or payload set of the wrong type as empty; <paramref name="stats"/> counts both.
    /// </remarks>
    public async Task<IReadOnlyList<LoadedSegment>> LoadSegmentsAsync(IReadOnlyList<FlushCandidate> candidates, int pageSize, FlushStats stats, PayloadArena? arena = null)
    {
        var segments = new SegmentKey[candidates.Count];
        var memberKeys = new RedisKey[candidates.Count];
        var indexes = new Task<RedisValue[]>[candidates.Count];
        for (var i = 0; i < candidates.Count; i++)
        {
            segments[i] = SegmentKey.Parse(candidates[i].SegmentKey);
            memberKeys[i] = _keys.MemberKeysKey(segments[i]);
            indexes[i] = _database.SetMembersAsync(memberKeys[i]);
        }

        // The counters share the member index's hash tag, so its key tells their slot.
        var counterReads = new List<(List<int> Segments, Task<RedisValue[]> Reply)>();
        foreach (var batch in BatchesBySlot(candidates.Count, i => memberKeys[i], 2, MaxKeysPerCommand))
        {
            var keys = new RedisKey[batch.Count * 2];
            for (var j = 0; j < batch.Count; j++)
            {
                keys[2 * j] = _keys.IngestedCountKey(candidates[batch[j]].SegmentKey);
                keys[2 * j + 1] = _keys.IngestedBytesKey(candidates[batch[j]].SegmentKey);
            }

            counterReads.Add((batch, _database.StringGetAsync(keys)));
        }

        // Every reply answered before any is read; a wrong-type index is tolerated, any other failure fails the load.
        await ((Task)Task.WhenAll(indexes)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        ThrowUnlessEveryFaultIsWrongType(indexes);

        // A payload key listed by several segments (a replayed subsegment merged, then detached) feeds the last one.
        var payloadKeys = new List<string>[candidates.Count];
        var owners = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < candidates.Count; i++)
        {
            var salts = ReadSet(indexes[i], memberKeys[i], stats);
            var keys = new List<string>(salts.Length);
            foreach (var salt in salts)
            {
                var payloadKey = _keys.PayloadKeyFromMember(segments[i], salt!);
                keys.Add(payloadKey);
                owners[payloadKey] = i;
            }

            payloadKeys[i] = keys;
        }

        var payloads = new List<ReadOnlyMemory<byte>>[candidates.Count];
        for (var i = 0; i < payloads.Length; i++)
        {
            payloads[i] = [];
        }

        await LoadPayloadsAsync(owners, payloads, pageSize, stats, arena).ConfigureAwait(false);
        await WhenAllAnswered(counterReads.Select(c => c.Reply)).ConfigureAwait(false);
        var metadata = new SegmentIngestMetadata[candidates.Count];
        foreach (var (batch, reply) in counterReads)
        {
            var values = await reply.ConfigureAwait(false);
            for (var j = 0; j < batch.Count; j++)
            {
                var segmentKey = candidates[batch[j]].SegmentKey;
                metadata[batch[j]] = new SegmentIngestMetadata(
                    ReadCounter(values[2 * j], segmentKey, _keys.IngestedCountKey, stats),
                    ReadCounter(values[2 * j + 1], segmentKey, _keys.IngestedBytesKey, stats));
            }
        }

        var loaded = new List<LoadedSegment>(candidates.Count);
        for (var i = 0; i < candidates.Count; i++)
        {
            loaded.Add(new LoadedSegment(candidates[i], payloads[i], payloadKeys[i], metadata[i]));
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
    /// <remarks>
    /// Keys go with one <c>UNLINK</c> per hash slot (on a standalone server a few per flush; on a cluster one per
    /// segment's metadata and one per payload set), redirects with one <c>HDEL</c> per segment, queue entries last
    /// with <c>ZREM</c> in batches of 100. <c>UNLINK</c> frees large payload sets off Redis's main thread.
    /// </remarks>
    public async Task CleanupFlushedSegmentsAsync(IReadOnlyList<FlushedSegment> segments)
    {
        var keys = new List<RedisKey>(segments.Count * 7);
        var writes = new List<Task>(segments.Count + 8);
        var queueRemovals = new Dictionary<string, List<RedisValue>>(StringComparer.Ordinal);
        foreach (var flushed in segments)
        {
            var segmentKey = flushed.SegmentKey;
            var segment = SegmentKey.Parse(segmentKey);

            // The lock goes with the data.
            keys.Add(_keys.HasRootKey(segmentKey));
            keys.Add(_keys.IngestedCountKey(segmentKey));
            keys.Add(_keys.IngestedBytesKey(segmentKey));
            keys.Add(_keys.FlushLockKey(segmentKey));
            if (flushed.PayloadKeys.Count > 0)
            {
                keys.Add(_keys.MemberKeysKey(segment));
                foreach (var payloadKey in flushed.PayloadKeys)
                {
                    keys.Add(payloadKey);
                }
            }

            var redirectKey = _keys.RedirectKey(KeySchema.ProjectAndTrace(segment.ProjectId, segment.TraceId));
            for (var start = 0; start < flushed.Spans.Count; start += CleanupBatchSize)
            {
                var fields = new RedisValue[Math.Min(CleanupBatchSize, flushed.Spans.Count - start)];
                for (var i = 0; i < fields.Length; i++)
                {
                    fields[i] = flushed.Spans[start + i].SpanId;
                }

                writes.Add(_database.HashDeleteAsync(redirectKey, fields));
            }

            GetOrAdd(queueRemovals, flushed.QueueKey).Add(segmentKey);
        }

        foreach (var batch in BatchesBySlot(keys.Count, i => keys[i], 1, MaxKeysPerCommand))
        {
            var unlink = new object[batch.Count];
            for (var i = 0; i < unlink.Length; i++)
            {
                unlink[i] = keys[batch[i]];
            }

            writes.Add(_database.ExecuteAsync("UNLINK", unlink));
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

    /// <summary>
    /// Reads every payload set, paged with <c>SSCAN</c> as the reference pages them (one round of first pages for all
    /// sets, most of which fit one page, then rounds for the sets that have more), and decodes each page into its
    /// owner's payloads as soon as it arrives, while Redis still serves the pages behind it. Commands are issued
    /// directly, without an async method per set. A set of the wrong type reads as empty and is counted.
    /// </summary>
    private async Task LoadPayloadsAsync(Dictionary<string, int> owners, List<ReadOnlyMemory<byte>>[] payloads, int pageSize, FlushStats stats, PayloadArena? arena)
    {
        var round = new List<(string Key, Task<RedisResult> Page)>(owners.Count);
        foreach (var payloadKey in owners.Keys)
        {
            round.Add((payloadKey, ScanPageAsync(payloadKey, 0, pageSize)));
        }

        var decoding = TimeSpan.Zero;
        while (round.Count > 0)
        {
            var next = new List<(string Key, Task<RedisResult> Page)>();
            foreach (var (key, page) in round)
            {
                // Replies come in order, so this mostly waits once per round and then finds the next pages answered.
                if (!page.IsCompleted)
                {
                    await ((Task)page).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }

                if (page.IsFaulted)
                {
                    if (page.Exception?.InnerException is RedisServerException ex && IsWrongType(ex))
                    {
                        stats.CountWrongTypeKey(key);
                        continue;
                    }

                    // Let every other reply land before failing, so none is left unobserved.
                    await ((Task)Task.WhenAll(round.Select(r => r.Page).Concat(next.Select(n => n.Page)))).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    ThrowUnlessEveryFaultIsWrongType(round.Select(r => r.Page).Concat(next.Select(n => n.Page)));
                }

                var reply = await page.ConfigureAwait(false);
                var cursor = (long)reply[0];
                var started = stats.Time.GetTimestamp();
                var owned = payloads[owners[key]];
                foreach (var member in (RedisValue[])reply[1]!)
                {
                    PayloadCodec.Decode((ReadOnlyMemory<byte>)member, owned, arena);
                }

                decoding += stats.Time.GetElapsedTime(started);
                if (cursor != 0)
                {
                    next.Add((key, ScanPageAsync(key, cursor, pageSize)));
                }
            }

            round = next;
        }

        stats.Decompress += decoding;
    }

    private Task<RedisResult> ScanPageAsync(string payloadKey, long cursor, int pageSize) =>
        _database.ExecuteAsync("SSCAN", (RedisKey)payloadKey, cursor, "COUNT", pageSize);

    /// <summary>The members of a set read with SMEMBERS (an answered reply); a key of the wrong type reads as empty and is counted.</summary>
    private static RedisValue[] ReadSet(Task<RedisValue[]> answered, RedisKey key, FlushStats stats)
    {
        if (answered.IsFaulted)
        {
            stats.CountWrongTypeKey(key.ToString());
            return [];
        }

        return answered.Result;
    }

    private static void ThrowUnlessEveryFaultIsWrongType(IEnumerable<Task> answered)
    {
        var failures = answered
            .Where(t => t.IsFaulted || t.IsCanceled)
            .Select(t => t.Exception?.InnerException)
            .Where(ex => ex is not RedisServerException wrongType || !IsWrongType(wrongType))
            .ToList();
        if (failures.Count > 0)
        {
            if (failures.Count == 1 && failures[0] is { } only)
            {
                ExceptionDispatchInfo.Throw(only);
            }

            throw new AggregateException(failures.Select(f => f ?? new TaskCanceledException()));
        }
    }

    /// <summary>An ingest counter; one that is not an integer reads as missing and is counted.</summary>
    private static long? ReadCounter(RedisValue value, string segmentKey, Func<string, string> counterKey, FlushStats stats)
    {
        if (value.IsNull)
        {
            return null;
        }

        if (value.TryParse(out long number))
        {
            return number;
        }

        stats.CorruptCounters++;
        stats.NoteCorrupt(counterKey(segmentKey));
        return null;
    }

    private static bool IsWrongType(RedisServerException ex) => ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal);

    /// <summary>
    /// Splits item indexes 0..<paramref name="count"/>-1 into batches whose keys share one hash slot (a standalone
    /// server has no slots, so there all share one), in first-seen order, of at most
    /// <paramref name="maxKeys"/> / <paramref name="keysPerItem"/> items each.
    /// </summary>
    private List<List<int>> BatchesBySlot(int count, Func<int, RedisKey> slotKeyOf, int keysPerItem, int maxKeys)
    {
        var maxItems = Math.Max(1, maxKeys / keysPerItem);
        var open = new Dictionary<int, List<int>>();
        var batches = new List<List<int>>();
        for (var i = 0; i < count; i++)
        {
            var slot = _database.Multiplexer.HashSlot(slotKeyOf(i));
            if (!open.TryGetValue(slot, out var batch) || batch.Count == maxItems)
            {
                batch = [];
                open[slot] = batch;
                batches.Add(batch);
            }

            batch.Add(i);
        }

        return batches;
    }
}

/// <summary>The due queue entries of one flush: the segment keys, and members that are not segment keys.</summary>
/// <param name="Candidates">The flush candidates, per shard oldest first.</param>
/// <param name="Corrupt">Queue members that are not segment keys.</param>
internal sealed record LoadedCandidates(IReadOnlyList<FlushCandidate> Candidates, IReadOnlyList<CorruptQueueMember> Corrupt);

/// <summary>A queue member that is not a segment key.</summary>
/// <param name="QueueKey">The queue holding it.</param>
/// <param name="Member">The member, byte for byte.</param>
internal readonly record struct CorruptQueueMember(string QueueKey, RedisValue Member);
