using SpanBuffer.Flush;
using SpanBuffer.Ingest;
using StackExchange.Redis;

namespace SpanBuffer.Redis;

/// <summary>A subsegment paired with what the ingest script did with it.</summary>
internal sealed record InsertedSubsegment(Subsegment Subsegment, AddBufferResult Result);

/// <summary>What one ingest call writes to the queues, computed before anything is sent.</summary>
internal readonly record struct QueueSettings(long TimeoutSeconds, long RootTimeoutSeconds, long TtlSeconds, int? SliceId, QueueCleanupRule Cleanup = QueueCleanupRule.EverySpanOfTheTree);

internal sealed partial class RedisSpanStore
{
    /// <summary>Subsegments whose payloads are sent ahead of their script calls at a time (see InsertSubsegmentsAsync).</summary>
    public const int SliceSize = 16;

    /// <summary>Writes each subsegment's payloads to its salted payload set (reference §3.4).</summary>
    /// <remarks>
    /// Compressed frames live in <paramref name="arena"/> when given: the caller may reuse it once the returned task
    /// succeeded (every command was answered, so its bytes were sent), never after a failure.
    /// </remarks>
    public async Task StorePayloadsAsync(IReadOnlyList<Subsegment> group, int compressionLevel, TimeSpan ttl, IngestStats stats, PayloadArena? arena = null)
    {
        var writes = new List<Task>(group.Count * 2);
        foreach (var subsegment in group)
        {
            var key = (RedisKey)_keys.PayloadKey(subsegment.ProjectAndTrace, subsegment.Salt);
            writes.Add(_database.SetAddAsync(key, EncodeMembers(subsegment, compressionLevel, stats, arena)));
            writes.Add(_database.KeyExpireAsync(key, ttl));
        }

        await Task.WhenAll(writes).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs the ingest script once per subsegment (reference §3.5); each reply stays with its input, and the calls of
    /// one trace take effect in the order of <paramref name="group"/> whatever the script cache does.
    /// </summary>
    /// <remarks>
    /// The calls are sent by hash, concurrently. A node that lost its script cache answers NOSCRIPT without running
    /// anything, and may run later calls of the same trace again once another client reloaded the script. So when a
    /// call of a trace answered NOSCRIPT, it and every later call of that trace run again, one after another, by text
    /// (which cannot answer NOSCRIPT): replays are idempotent, so re-running a call that already took effect leaves
    /// the state as if the calls had run in order. The same holds for the traces in <paramref name="rerunTraces"/>,
    /// whose calls an earlier ingest call re-ran after these were sent; it is awaited only once every reply is in.
    /// </remarks>
    /// <returns>The results, and the traces whose calls were run again.</returns>
    /// <param name="group">The subsegments, in call order.</param>
    /// <param name="settings">The script's settings.</param>
    /// <param name="rerunTraces">Traces an earlier overlapping ingest call re-ran; see the remarks.</param>
    /// <param name="beforeSlice">
    /// Called with (start, count) before the calls of each slice of <see cref="SliceSize"/> subsegments are sent:
    /// on a single server, where one connection keeps command order, the caller sends those subsegments' payloads
    /// there, so Redis already runs the first scripts while later payloads are being compressed.
    /// </param>
    public async Task<(IReadOnlyList<InsertedSubsegment> Inserted, IReadOnlySet<string> Rerun)> InsertSubsegmentsAsync(
        IReadOnlyList<Subsegment> group, AddBufferSettings settings, Task<IReadOnlySet<string>>? rerunTraces = null, Action<int, int>? beforeSlice = null)
    {
        // Script calls are plain concurrent commands, never an IBatch: a batched call could not be sent again alone.
        var replies = new Task<RedisResult>[group.Count];
        for (var i = 0; i < group.Count; i++)
        {
            if (beforeSlice is not null && i % SliceSize == 0)
            {
                beforeSlice(i, Math.Min(SliceSize, group.Count - i));
            }

            replies[i] = AddBufferScript.RunByHashAsync(_database, group[i], settings);
        }

        await ((Task)Task.WhenAll(replies)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        HashSet<string>? rerun = null;
        foreach (var reply in replies)
        {
            if (reply.IsFaulted && !RedisScript.IsNoScript(reply.Exception?.InnerException))
            {
                await reply.ConfigureAwait(false);
            }
        }

        for (var i = 0; i < group.Count; i++)
        {
            if (!replies[i].IsCompletedSuccessfully)
            {
                (rerun ??= new HashSet<string>(StringComparer.Ordinal)).Add(group[i].ProjectAndTrace);
            }
        }

        if (rerunTraces is not null)
        {
            foreach (var trace in await rerunTraces.ConfigureAwait(false))
            {
                (rerun ??= new HashSet<string>(StringComparer.Ordinal)).Add(trace);
            }
        }

        var results = new AddBufferResult?[group.Count];
        for (var i = 0; i < group.Count; i++)
        {
            if (replies[i].IsCompletedSuccessfully)
            {
                results[i] = AddBufferScript.ParseResult(await replies[i].ConfigureAwait(false));
            }
        }

        if (rerun is not null)
        {
            await RerunInOrderAsync(group, settings, rerun, results).ConfigureAwait(false);
        }

        var inserted = new List<InsertedSubsegment>(group.Count);
        for (var i = 0; i < group.Count; i++)
        {
            inserted.Add(new InsertedSubsegment(group[i], results[i]!));
        }

        return (inserted, (IReadOnlySet<string>?)rerun ?? EmptyTraces);
    }

    private static readonly IReadOnlySet<string> EmptyTraces = new HashSet<string>();

    /// <summary>Runs again, by text and one after another per trace, the calls of <paramref name="traces"/> from the first that has to.</summary>
    private async Task RerunInOrderAsync(IReadOnlyList<Subsegment> group, AddBufferSettings settings, HashSet<string> traces, AddBufferResult?[] results)
    {
        var perTrace = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < group.Count; i++)
        {
            if (traces.Contains(group[i].ProjectAndTrace))
            {
                GetOrAdd(perTrace, group[i].ProjectAndTrace).Add(i);
            }
        }

        await Task.WhenAll(perTrace.Values.Select(RerunTraceAsync)).ConfigureAwait(false);

        async Task RerunTraceAsync(List<int> calls)
        {
            foreach (var i in calls)
            {
                var again = AddBufferScript.ParseResult(await AddBufferScript.RunByTextAsync(_database, group[i], settings).ConfigureAwait(false));

                // A call that had taken effect merged its children then; their queue entries still have to go.
                results[i] = results[i] is { } first
                    ? (first.SegmentKey == again.SegmentKey ? first : again) with { MergedRoots = [.. first.MergedRoots.Union(again.MergedRoots, StringComparer.Ordinal)] }
                    : again;
            }
        }
    }

    /// <summary>
    /// Moves each touched segment's deadline and removes the queue entries of segments merged into another
    /// (reference §3.6). All adds are sent before all removals.
    /// </summary>
    public async Task UpdateQueueAsync(IReadOnlyList<InsertedSubsegment> inserted, long now, QueueSettings settings)
    {
        var adds = new Dictionary<string, Dictionary<string, long>>(StringComparer.Ordinal);
        var deletes = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var rooted = new HashSet<string>(StringComparer.Ordinal);
        SpanTree? spanKeysTree = null;
        string[] spanKeys = [];
        foreach (var (subsegment, result) in inserted)
        {
            var queueKey = _keys.QueueKey(subsegment.Partition, settings.SliceId);

            // A segment that had its root in any call of the batch keeps the root timeout, whatever order the
            // calls' replies (or their re-runs after a script-cache loss) came in.
            if (result.HasRootSpan)
            {
                rooted.Add(result.SegmentKey);
            }

            var deadline = now + (rooted.Contains(result.SegmentKey) ? settings.RootTimeoutSeconds : settings.TimeoutSeconds);
            GetOrAdd(adds, queueKey)[result.SegmentKey] = deadline;
            if (result.IsDetached)
            {
                continue;
            }

            // Reference §3.6 step 5: the span key of every span of the tree (all its chunks) can only be a queue entry
            // of a segment the tree's scripts merged, or one left by another writer; either way it is stale now. The
            // running set matters: a later chunk may name a key an earlier one kept, and that key then goes.
            var stale = GetOrAdd(deletes, queueKey);
            if (settings.Cleanup == QueueCleanupRule.MergedRoots)
            {
                foreach (var mergedRoot in result.MergedRoots)
                {
                    stale.Add(_keys.SegmentKey(subsegment.ProjectAndTrace, mergedRoot));
                }
            }
            else
            {
                if (!ReferenceEquals(subsegment.Tree, spanKeysTree))
                {
                    spanKeysTree = subsegment.Tree;
                    spanKeys = SpanKeys(subsegment.Tree);
                }

                stale.UnionWith(spanKeys);
            }

            stale.Remove(result.SegmentKey);
        }

        var writes = new List<Task>(adds.Count * 2 + deletes.Count);
        var ttl = TimeSpan.FromSeconds(settings.TtlSeconds);
        foreach (var (queueKey, members) in adds)
        {
            var entries = members.Select(m => new SortedSetEntry(m.Key, m.Value)).ToArray();
            writes.Add(_database.SortedSetAddAsync(queueKey, entries));
            writes.Add(_database.KeyExpireAsync(queueKey, ttl));
        }

        foreach (var (queueKey, members) in deletes)
        {
            if (members.Count > 0)
            {
                writes.Add(_database.SortedSetRemoveAsync(queueKey, members.Select(m => (RedisValue)m).ToArray()));
            }
        }

        await Task.WhenAll(writes).ConfigureAwait(false);
    }

    private string[] SpanKeys(SpanTree tree)
    {
        var keys = new string[tree.Spans.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = _keys.SegmentKey(tree.ProjectAndTrace, tree.Spans[i].SpanId);
        }

        return keys;
    }

    private static RedisValue[] EncodeMembers(Subsegment subsegment, int compressionLevel, IngestStats stats, PayloadArena? arena)
    {
        var spans = subsegment.Spans;
        if (compressionLevel == PayloadCodec.RawLevel)
        {
            var raw = new RedisValue[spans.Count];
            for (var i = 0; i < raw.Length; i++)
            {
                raw[i] = spans[i].Payload;
            }

            return raw;
        }

        var frame = PayloadCodec.Compress(spans.AsSpan(), compressionLevel, arena);
        stats.CompressedBytes += frame.Length;
        stats.UncompressedBytes += subsegment.ByteCount;
        return [frame];
    }
}
