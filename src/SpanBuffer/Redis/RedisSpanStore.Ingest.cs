using System.Buffers;
using System.Text;
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
        var rooted = new HashSet<string>(StringComparer.Ordinal);
        var stale = new Dictionary<string, StaleQueueEntries>(StringComparer.Ordinal);
        for (var i = 0; i < inserted.Count; i++)
        {
            var (subsegment, result) = inserted[i];
            var queueKey = _keys.QueueKey(subsegment.Partition, settings.SliceId);

            // A segment that had its root in any call of the batch keeps the root timeout, whatever order the
            // calls' replies (or their re-runs after a script-cache loss) came in.
            if (result.HasRootSpan)
            {
                rooted.Add(result.SegmentKey);
            }

            var deadline = now + (rooted.Contains(result.SegmentKey) ? settings.RootTimeoutSeconds : settings.TimeoutSeconds);
            GetOrAdd(adds, queueKey)[result.SegmentKey] = deadline;
            if (!result.IsDetached)
            {
                if (!stale.TryGetValue(queueKey, out var entries))
                {
                    stale[queueKey] = entries = new StaleQueueEntries(_keys);
                }

                entries.Add(i, subsegment, result, settings.Cleanup);
            }
        }

        var writes = new List<Task>(adds.Count * 2 + stale.Count);
        var ttl = TimeSpan.FromSeconds(settings.TtlSeconds);
        foreach (var (queueKey, members) in adds)
        {
            var entries = members.Select(m => new SortedSetEntry(m.Key, m.Value)).ToArray();
            writes.Add(_database.SortedSetAddAsync(queueKey, entries));
            writes.Add(_database.KeyExpireAsync(queueKey, ttl));
        }

        var buffers = new List<byte[]>(stale.Count);
        try
        {
            foreach (var (queueKey, entries) in stale)
            {
                var members = entries.Build(buffers);
                if (members.Length > 0)
                {
                    writes.Add(_database.SortedSetRemoveAsync(queueKey, members));
                }
            }

            await Task.WhenAll(writes).ConfigureAwait(false);
        }
        finally
        {
            // Every command that read from them has been answered (or failed) by now.
            foreach (var buffer in buffers)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
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

/// <summary>
/// The queue entries one ingest call removes from one queue (reference §3.6 step 5), computed the way the reference's
/// running set does it, without a string or a set entry per span: in subsegment order, each non-detached result adds
/// the span keys of its whole tree (all chunks) and then takes out its own segment key, so a key stays out only when
/// no later result of the call added it again.
/// </summary>
internal sealed class StaleQueueEntries(KeySchema keys)
{
    private readonly List<(SpanTree Tree, int Index)> _trees = [];
    private readonly Dictionary<(string ProjectAndTrace, string RootId), int> _keptAt = [];
    private readonly HashSet<string> _mergedRoots = new(StringComparer.Ordinal);

    /// <summary>Applies result number <paramref name="index"/> of the call (not detached).</summary>
    public void Add(int index, Subsegment subsegment, AddBufferResult result, QueueCleanupRule rule)
    {
        if (rule == QueueCleanupRule.MergedRoots)
        {
            foreach (var mergedRoot in result.MergedRoots)
            {
                _mergedRoots.Add(keys.SegmentKey(subsegment.ProjectAndTrace, mergedRoot));
            }

            _mergedRoots.Remove(result.SegmentKey);
            return;
        }

        // Chunks of a tree are consecutive: a tree's span keys were last added by its last non-detached chunk.
        if (_trees.Count > 0 && ReferenceEquals(_trees[^1].Tree, subsegment.Tree))
        {
            _trees[^1] = (subsegment.Tree, index);
        }
        else
        {
            _trees.Add((subsegment.Tree, index));
        }

        var rootId = result.SegmentKey[(result.SegmentKey.LastIndexOf(':') + 1)..];
        _keptAt[(subsegment.ProjectAndTrace, rootId)] = index;
    }

    /// <summary>The members to remove; their bytes live in buffers rented from the shared pool and added to <paramref name="rented"/>.</summary>
    public RedisValue[] Build(List<byte[]> rented)
    {
        if (_trees.Count == 0)
        {
            return [.. _mergedRoots.Select(key => (RedisValue)key)];
        }

        // One lookup per span: the first pass notes which keys go, the second writes them.
        var spanCount = 0;
        foreach (var (tree, _) in _trees)
        {
            spanCount += tree.Spans.Count;
        }

        var removed = ArrayPool<bool>.Shared.Rent(spanCount);
        try
        {
            var count = 0;
            var bytes = 0;
            var s = 0;
            var prefixes = new byte[_trees.Count][];
            for (var t = 0; t < _trees.Count; t++)
            {
                var (tree, index) = _trees[t];
                prefixes[t] = Encoding.UTF8.GetBytes(keys.SegmentKey(tree.ProjectAndTrace, string.Empty));
                foreach (var span in tree.Spans)
                {
                    removed[s] = !IsKept(tree, span.SpanId, index);
                    if (removed[s++])
                    {
                        count++;
                        bytes += prefixes[t].Length + Encoding.UTF8.GetByteCount(span.SpanId);
                    }
                }
            }

            var members = new RedisValue[count];
            var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(bytes, 1));
            rented.Add(buffer);
            var offset = 0;
            var m = 0;
            s = 0;
            for (var t = 0; t < _trees.Count; t++)
            {
                var prefix = prefixes[t];
                foreach (var span in _trees[t].Tree.Spans)
                {
                    if (!removed[s++])
                    {
                        continue;
                    }

                    var start = offset;
                    prefix.CopyTo(buffer.AsSpan(offset));
                    offset += prefix.Length;
                    offset += Encoding.UTF8.GetBytes(span.SpanId, buffer.AsSpan(offset));
                    members[m++] = new ReadOnlyMemory<byte>(buffer, start, offset - start);
                }
            }

            return members;
        }
        finally
        {
            ArrayPool<bool>.Shared.Return(removed);
        }
    }

    // A key taken out by a result at or after the last time this tree added it stays queued: it is that result's segment.
    private bool IsKept(SpanTree tree, string spanId, int addedAt) =>
        _keptAt.TryGetValue((tree.ProjectAndTrace, spanId), out var keptAt) && keptAt >= addedAt;
}
