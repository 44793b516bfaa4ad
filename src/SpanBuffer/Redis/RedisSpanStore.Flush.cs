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

    /// <summary>Keys per batched snapshot or cleanup script call: enough to save round trips, short enough not to stall Redis.</summary>
    private const int MaxKeysPerScriptCall = 350;

    /// <summary>
    /// Per shard, the segments whose deadline is at most <paramref name="now"/>, oldest first (reference §4.2). Queue
    /// members that are not segment keys (corruption, a foreign writer) come back apart, so they can be removed
    /// instead of failing every flush of their shard. A shard whose queue cannot be read (a key of the wrong type, a
    /// node down) comes back as failed, and the other shards flush; only when every shard failed does this throw.
    /// </summary>
    public async Task<LoadedCandidates> LoadFlushCandidatesAsync(IReadOnlyList<QueueShard> shards, long now, int maxPerShard)
    {
        var pending = new List<(QueueShard Shard, Task<SortedSetEntry[]> Reply)>(shards.Count);
        foreach (var shard in shards)
        {
            pending.Add((shard, _database.SortedSetRangeByScoreWithScoresAsync(shard.QueueKey, 0, now, Exclude.None, Order.Ascending, 0, maxPerShard)));
        }

        await ((Task)Task.WhenAll(pending.Select(p => p.Reply))).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var candidates = new List<FlushCandidate>();
        var corrupt = new List<CorruptQueueMember>();
        var failed = new List<FailedShard>();
        foreach (var (shard, reply) in pending)
        {
            if (!reply.IsCompletedSuccessfully)
            {
                failed.Add(new FailedShard(shard, reply.Exception?.InnerException ?? new TaskCanceledException()));
                continue;
            }

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

        if (failed.Count > 0 && failed.Count == shards.Count)
        {
            ExceptionDispatchInfo.Throw(failed[0].Error);
        }

        return new LoadedCandidates(candidates, corrupt, failed);
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

    /// <summary>
    /// Takes a <c>SET NX EX</c> flush lock per candidate and keeps the winners, in order (reference §4.3). The lock
    /// holds <paramref name="lockToken"/> (the reference writes "1"), so only its flush releases it.
    /// </summary>
    public async Task<IReadOnlyList<FlushCandidate>> AcquireFlushLocksAsync(IReadOnlyList<FlushCandidate> candidates, TimeSpan lockTtl, string lockToken)
    {
        var pending = new List<(FlushCandidate Candidate, Task<bool> Won)>(candidates.Count);
        foreach (var candidate in candidates)
        {
            pending.Add((candidate, _database.StringSetAsync(_keys.FlushLockKey(candidate.SegmentKey), lockToken, lockTtl, When.NotExists)));
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
    /// Loads each candidate's member index and ingest counters (one snapshot, read atomically), its payload sets
    /// (paged <c>SSCAN</c>, decompressed) (reference §4.4). A payload key listed by several segments feeds only the
    /// last of them. Decompressed payloads live in <paramref name="arena"/> when given: the loaded segments are valid
    /// until it is reset. Each loaded segment carries the snapshot its cleanup needs, with <paramref name="lockToken"/>.
    /// </summary>
    /// <remarks>
    /// Corrupt data does not fail the flush: a counter that is not an integer reads as missing, and an index or
    /// payload set of the wrong type as empty; <paramref name="stats"/> counts both. A listed payload set that is
    /// missing is looked up again in the index: gone from there too, it was cleaned up by another flusher meanwhile
    /// (not a loss); still listed, it was lost.
    /// </remarks>
    public async Task<IReadOnlyList<LoadedSegment>> LoadSegmentsAsync(IReadOnlyList<FlushCandidate> candidates, int pageSize, FlushStats stats, PayloadArena? arena = null, string lockToken = "")
    {
        var segments = new SegmentKey[candidates.Count];
        var memberKeys = new RedisKey[candidates.Count];
        for (var i = 0; i < candidates.Count; i++)
        {
            segments[i] = SegmentKey.Parse(candidates[i].SegmentKey);
            memberKeys[i] = _keys.MemberKeysKey(segments[i]);
        }

        // One snapshot call per slot batch: on a single server a few per flush, on a cluster about one per segment.
        var reads = new List<(List<int> Batch, Task<RedisResult> Reply)>();
        foreach (var batch in BatchesBySlot(candidates.Count, i => memberKeys[i], 3, MaxKeysPerScriptCall))
        {
            var keys = new RedisKey[batch.Count * 3];
            for (var j = 0; j < batch.Count; j++)
            {
                var segmentKey = candidates[batch[j]].SegmentKey;
                keys[3 * j] = memberKeys[batch[j]];
                keys[3 * j + 1] = _keys.IngestedCountKey(segmentKey);
                keys[3 * j + 2] = _keys.IngestedBytesKey(segmentKey);
            }

            reads.Add((batch, LuaScripts.FlushSnapshot.EvaluateAsync(_database, keys, [])));
        }

        await ((Task)Task.WhenAll(reads.Select(r => r.Reply))).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        ThrowUnlessEveryFaultIsWrongType(reads.Select(r => r.Reply));
        var replies = new RedisResult[candidates.Count];
        foreach (var (batch, reply) in reads)
        {
            var perSegment = await reply.ConfigureAwait(false);
            for (var j = 0; j < batch.Count; j++)
            {
                replies[batch[j]] = perSegment[j];
            }
        }

        // A payload key listed by several segments feeds the last one (see SegmentAssembler.LastPerSegmentKey).
        var snapshots = new SegmentSnapshot[candidates.Count];
        var payloadKeys = new List<string>[candidates.Count];
        var owners = new Dictionary<string, (int Segment, int Salt)>(StringComparer.Ordinal);
        for (var i = 0; i < candidates.Count; i++)
        {
            var reply = replies[i];
            var segmentKey = candidates[i].SegmentKey;
            if ((long)reply[0] == 0)
            {
                stats.CountWrongTypeKey(memberKeys[i].ToString());
            }

            var saltReply = reply[1];
            var salts = new string[saltReply.Length];
            var keys = new List<string>(salts.Length);
            for (var j = 0; j < salts.Length; j++)
            {
                salts[j] = (string)saltReply[j]!;
                var payloadKey = _keys.PayloadKeyFromMember(segments[i], salts[j]);
                keys.Add(payloadKey);
                owners[payloadKey] = (i, j);
            }

            snapshots[i] = new SegmentSnapshot(
                lockToken,
                salts,
                ReadCounter((RedisValue)reply[2], segmentKey, _keys.IngestedCountKey, stats),
                ReadCounter((RedisValue)reply[3], segmentKey, _keys.IngestedBytesKey, stats));
            payloadKeys[i] = keys;
        }

        var payloads = new List<ReadOnlyMemory<byte>>[candidates.Count];
        for (var i = 0; i < payloads.Length; i++)
        {
            payloads[i] = [];
        }

        await LoadPayloadsAsync(owners, payloads, snapshots, pageSize, stats, arena).ConfigureAwait(false);
        await FindConcurrentCleanupsAsync(memberKeys, snapshots).ConfigureAwait(false);
        var loaded = new List<LoadedSegment>(candidates.Count);
        for (var i = 0; i < candidates.Count; i++)
        {
            var metadata = new SegmentIngestMetadata(snapshots[i].IngestedCount, snapshots[i].IngestedBytes);
            loaded.Add(new LoadedSegment(candidates[i], payloads[i], payloadKeys[i], metadata) { Snapshot = snapshots[i] });
        }

        return loaded;
    }

    /// <summary>
    /// For each segment with a listed payload set that read as missing, asks the index whether those salts are still
    /// listed; one that is gone was removed by another flusher's cleanup after this flush's snapshot.
    /// </summary>
    private async Task FindConcurrentCleanupsAsync(RedisKey[] memberKeys, SegmentSnapshot[] snapshots)
    {
        var checks = new List<(SegmentSnapshot Snapshot, Task<bool[]> Listed)>();
        for (var i = 0; i < snapshots.Length; i++)
        {
            var snapshot = snapshots[i];
            List<RedisValue>? missing = null;
            for (var j = 0; j < snapshot.Salts.Length; j++)
            {
                if (snapshot.SpansPerSalt[j] == 0)
                {
                    (missing ??= []).Add(snapshot.Salts[j]);
                }
            }

            if (missing is not null)
            {
                checks.Add((snapshot, _database.SetContainsAsync(memberKeys[i], [.. missing])));
            }
        }

        if (checks.Count == 0)
        {
            return;
        }

        await ((Task)Task.WhenAll(checks.Select(c => c.Listed))).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        ThrowUnlessEveryFaultIsWrongType(checks.Select(c => c.Listed));
        foreach (var (snapshot, listed) in checks)
        {
            if (listed.IsCompletedSuccessfully && (await listed.ConfigureAwait(false)).Contains(false))
            {
                snapshot.CleanedConcurrently = true;
            }
        }
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
    /// Removes what each flush delivered and nothing ingested since. A segment flushed by this library (it carries
    /// its snapshot) is cleaned by <c>cleanup-segment.lua</c>: its loaded salts leave the member index, its counters
    /// drop by what was loaded, the delivered spans' redirects go; when nothing is left its metadata goes and its queue
    /// entry is removed behind a fence, else it stays queued with the data that arrived during the flush. Then the
    /// removed salts' payload sets are unlinked. A segment a host built goes the reference's way (§4.8).
    /// </summary>
    /// <returns>Per segment, whether this cleanup removed its data (so its losses are this flush's to report).</returns>
    public async Task<IReadOnlyList<SegmentCleanup>> CleanupFlushedSegmentsAsync(IReadOnlyList<FlushedSegment> segments, TimeSpan fenceTtl)
    {
        var outcomes = new SegmentCleanup[segments.Count];
        var legacy = new List<FlushedSegment>();
        var scripted = new List<int>(segments.Count);
        for (var i = 0; i < segments.Count; i++)
        {
            var flushed = segments[i];
            if (flushed.Snapshot is not { } snapshot)
            {
                legacy.Add(flushed);
                outcomes[i] = new SegmentCleanup(flushed, SegmentCleanupState.Emptied, RemovedItsData: true);
                continue;
            }

            scripted.Add(i);
        }

        // A single server has no slots: there the script removes the queue entries too.
        var queueInScript = IsSingleServer;
        var calls = new List<(List<int> Batch, Task<RedisResult> Reply)>();
        foreach (var batch in BatchesBySlot(scripted.Count, i => _keys.MemberKeysKey(SegmentKey.Parse(segments[scripted[i]].SegmentKey)), 8, MaxKeysPerScriptCall))
        {
            var members = batch.Select(i => scripted[i]).ToList();
            calls.Add((members, RunCleanupScriptAsync(members.Select(i => segments[i]).ToList(), fenceTtl, queueInScript)));
        }

        var legacyCleanup = legacy.Count > 0 ? CleanupLikeTheReferenceAsync(legacy) : Task.CompletedTask;
        await ((Task)Task.WhenAll(calls.Select(c => c.Reply))).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

        var unlinks = new List<RedisKey>();
        var fences = new List<RedisKey>();
        var queueRemovals = new Dictionary<string, List<RedisValue>>(StringComparer.Ordinal);
        var failures = new List<Exception>();
        foreach (var (batch, reply) in calls)
        {
            if (!reply.IsCompletedSuccessfully)
            {
                // Left as they were: a later flush delivers them again (at-least-once).
                failures.Add(reply.Exception?.InnerException ?? new TaskCanceledException());
                continue;
            }

            var perSegment = await reply.ConfigureAwait(false);
            for (var b = 0; b < batch.Count; b++)
            {
                RecordCleanup(batch[b], perSegment[b]);
            }
        }

        void RecordCleanup(int index, RedisResult result)
        {
            var flushed = segments[index];
            var snapshot = flushed.Snapshot!;
            var state = (SegmentCleanupState)(long)result[0];
            var removed = (long)result[1];
            var flags = result[2];
            for (var j = 0; j < snapshot.Salts.Length; j++)
            {
                if (flags.Length == 0 ? removed > 0 : (string?)flags[j] == "1")
                {
                    unlinks.Add(flushed.PayloadKeys[j]);
                }
            }

            if (state == SegmentCleanupState.Emptied && (long)result[4] == 0)
            {
                GetOrAdd(queueRemovals, flushed.QueueKey).Add(flushed.SegmentKey);
                if ((long)result[3] == 1)
                {
                    fences.Add(_keys.FlushLockKey(flushed.SegmentKey));
                }
            }

            outcomes[index] = new SegmentCleanup(flushed, state, RemovedItsData: removed == snapshot.Salts.Length);
        }

        var writes = new List<Task>();
        AddUnlinks(writes, unlinks);
        var removals = new List<Task>();
        foreach (var (queueKey, members) in queueRemovals)
        {
            foreach (var batch in members.Chunk(CleanupBatchSize))
            {
                removals.Add(_database.SortedSetRemoveAsync(queueKey, batch));
            }
        }

        // The fences go only once the queue entries are gone; if this process dies in between, they expire.
        await Task.WhenAll(removals).ConfigureAwait(false);
        AddUnlinks(writes, fences);
        await Task.WhenAll(writes.Append(legacyCleanup)).ConfigureAwait(false);
        if (failures.Count > 0)
        {
            throw failures.Count == 1 ? failures[0] : new AggregateException(failures);
        }

        return outcomes;
    }

    /// <summary>Deletes each segment's flush lock if it still holds the token of the flush that loaded the segment.</summary>
    public async Task ReleaseFlushLocksAsync(IReadOnlyList<FlushedSegment> segments)
    {
        var releases = new List<Task>(segments.Count);
        foreach (var flushed in segments)
        {
            if (flushed.Snapshot is { } snapshot)
            {
                releases.Add(LuaScripts.ReleaseLock.EvaluateAsync(_database, [_keys.FlushLockKey(flushed.SegmentKey)], [snapshot.LockToken]));
            }
        }

        await Task.WhenAll(releases).ConfigureAwait(false);
    }

    private Task<RedisResult> RunCleanupScriptAsync(IReadOnlyList<FlushedSegment> batch, TimeSpan fenceTtl, bool queueInScript)
    {
        var perSegment = queueInScript ? 8 : 7;
        var keys = new RedisKey[perSegment * batch.Count];
        var values = new List<RedisValue> { perSegment };
        for (var b = 0; b < batch.Count; b++)
        {
            var flushed = batch[b];
            var snapshot = flushed.Snapshot!;
            var segmentKey = flushed.SegmentKey;
            var segment = SegmentKey.Parse(segmentKey);
            var projectAndTrace = KeySchema.ProjectAndTrace(segment.ProjectId, segment.TraceId);
            var first = perSegment * b;
            keys[first] = _keys.MemberKeysKey(segment);
            keys[first + 1] = _keys.IngestedCountKey(segmentKey);
            keys[first + 2] = _keys.IngestedBytesKey(segmentKey);
            keys[first + 3] = _keys.HasRootKey(segmentKey);
            keys[first + 4] = _keys.FlushLockKey(segmentKey);
            keys[first + 5] = _keys.RedirectKey(projectAndTrace);
            keys[first + 6] = _keys.StoredSaltsKey(projectAndTrace);
            if (queueInScript)
            {
                keys[first + 7] = flushed.QueueKey;
            }

            values.Add(snapshot.LockToken);
            values.Add(Math.Max(1, (long)fenceTtl.TotalSeconds));
            values.Add(segmentKey);
            values.Add(snapshot.IngestedCount is { } count ? count : RedisValue.EmptyString);
            values.Add(snapshot.IngestedBytes is { } bytes ? bytes : RedisValue.EmptyString);
            values.Add(snapshot.Salts.Length);
            for (var j = 0; j < snapshot.Salts.Length; j++)
            {
                values.Add(snapshot.Salts[j]);
                values.Add(snapshot.SpansPerSalt[j]);
                values.Add(snapshot.BytesPerSalt[j]);
            }

            values.Add(flushed.Spans.Count);
            foreach (var span in flushed.Spans)
            {
                values.Add(span.SpanId);
            }
        }

        return LuaScripts.CleanupSegment.EvaluateAsync(_database, keys, [.. values]);
    }

    private void AddUnlinks(List<Task> writes, List<RedisKey> keys)
    {
        foreach (var batch in BatchesBySlot(keys.Count, i => keys[i], 1, MaxKeysPerCommand))
        {
            var unlink = new object[batch.Count];
            for (var i = 0; i < unlink.Length; i++)
            {
                unlink[i] = keys[batch[i]];
            }

            writes.Add(_database.ExecuteAsync("UNLINK", unlink));
        }
    }

    /// <summary>
    /// Deletes what was flushed, unconditionally (reference §4.8): metadata, redirects of the flushed spans, the member index and
    /// payload sets when they were loaded, the flush lock, and the queue entries.
    /// </summary>
    /// <remarks>
    /// Keys go with one <c>UNLINK</c> per hash slot (on a standalone server a few per flush; on a cluster one per
    /// segment's metadata and one per payload set), redirects with one <c>HDEL</c> per segment, queue entries last
    /// with <c>ZREM</c> in batches of 100. <c>UNLINK</c> frees large payload sets off Redis's main thread.
    /// </remarks>
    private async Task CleanupLikeTheReferenceAsync(IReadOnlyList<FlushedSegment> segments)
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

        AddUnlinks(writes, keys);
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
    private async Task LoadPayloadsAsync(Dictionary<string, (int Segment, int Salt)> owners, List<ReadOnlyMemory<byte>>[] payloads, SegmentSnapshot[] snapshots, int pageSize, FlushStats stats, PayloadArena? arena)
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
                var (segment, salt) = owners[key];
                var owned = payloads[segment];
                var first = owned.Count;
                foreach (var member in (RedisValue[])reply[1]!)
                {
                    PayloadCodec.Decode((ReadOnlyMemory<byte>)member, owned, arena);
                }

                var snapshot = snapshots[segment];
                snapshot.SpansPerSalt[salt] += owned.Count - first;
                for (var p = first; p < owned.Count; p++)
                {
                    snapshot.BytesPerSalt[salt] += owned[p].Length;
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

/// <summary>What cleanup left of a segment.</summary>
internal enum SegmentCleanupState
{
    /// <summary>Nothing was left: metadata and queue entry removed.</summary>
    Emptied = 1,

    /// <summary>Spans ingested during the flush remain, and the segment stays queued for a later flush.</summary>
    DataRemains = 2,
}

/// <summary>The outcome of one segment's cleanup.</summary>
/// <param name="Segment">The segment.</param>
/// <param name="State">What was left of it.</param>
/// <param name="RemovedItsData">Whether this cleanup removed what its flush loaded (not another flusher's cleanup before it).</param>
internal readonly record struct SegmentCleanup(FlushedSegment Segment, SegmentCleanupState State, bool RemovedItsData);

/// <summary>The due queue entries of one flush: the segment keys, and members that are not segment keys.</summary>
/// <param name="Candidates">The flush candidates, per shard oldest first.</param>
/// <param name="Corrupt">Queue members that are not segment keys.</param>
/// <param name="Failed">Shards whose queue could not be read.</param>
internal sealed record LoadedCandidates(IReadOnlyList<FlushCandidate> Candidates, IReadOnlyList<CorruptQueueMember> Corrupt, IReadOnlyList<FailedShard> Failed);

/// <summary>A shard whose queue could not be read, and why.</summary>
/// <param name="Shard">The shard.</param>
/// <param name="Error">The error.</param>
internal readonly record struct FailedShard(QueueShard Shard, Exception Error);

/// <summary>A queue member that is not a segment key.</summary>
/// <param name="QueueKey">The queue holding it.</param>
/// <param name="Member">The member, byte for byte.</param>
internal readonly record struct CorruptQueueMember(string QueueKey, RedisValue Member);
