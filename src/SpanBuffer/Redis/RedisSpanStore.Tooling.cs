using StackExchange.Redis;

namespace SpanBuffer.Redis;

/// <summary>One queue read for operators: its size, what is due, and its lowest and highest deadline.</summary>
/// <param name="Shard">The queue's shard and key.</param>
/// <param name="Segments">Queued segments.</param>
/// <param name="Due">Segments whose deadline is at most the given time.</param>
/// <param name="LowestDeadline">The lowest deadline (Unix seconds), when anything is queued.</param>
/// <param name="HighestDeadline">The highest deadline (Unix seconds), when anything is queued.</param>
internal readonly record struct QueueState(QueueShard Shard, long Segments, long Due, long? LowestDeadline, long? HighestDeadline);

/// <summary>A segment's ingest counters as they are now.</summary>
/// <param name="SegmentKey">The segment.</param>
/// <param name="Spans">The ingested span count, when the counter exists and is an integer.</param>
/// <param name="Bytes">The ingested byte count, when the counter exists and is an integer.</param>
/// <param name="HasData">Whether the segment's member-keys index exists.</param>
internal readonly record struct SegmentState(string SegmentKey, long? Spans, long? Bytes, bool HasData);

/// <summary>Reads for the operator tool (<c>spanbuffer</c>): single-key commands only, pipelined, never blocking Redis.</summary>
internal sealed partial class RedisSpanStore
{
    public KeySchema Keys => _keys;

    /// <summary>Size, due count and deadline range of each queue.</summary>
    public async Task<IReadOnlyList<QueueState>> GetQueueStatesAsync(IReadOnlyList<QueueShard> shards, long now)
    {
        var pending = shards.Select(s => (
            Shard: s,
            Size: _database.SortedSetLengthAsync(s.QueueKey),
            Due: _database.SortedSetLengthAsync(s.QueueKey, double.NegativeInfinity, now),
            Lowest: _database.SortedSetRangeByRankWithScoresAsync(s.QueueKey, 0, 0),
            Highest: _database.SortedSetRangeByRankWithScoresAsync(s.QueueKey, -1, -1))).ToList();
        await WhenAllAnswered(pending.SelectMany(p => new Task[] { p.Size, p.Due, p.Lowest, p.Highest })).ConfigureAwait(false);
        var states = new List<QueueState>(pending.Count);
        foreach (var (shard, size, due, lowest, highest) in pending)
        {
            var low = await lowest.ConfigureAwait(false);
            var high = await highest.ConfigureAwait(false);
            states.Add(new QueueState(
                shard,
                await size.ConfigureAwait(false),
                await due.ConfigureAwait(false),
                low.Length > 0 ? (long)low[0].Score : null,
                high.Length > 0 ? (long)high[0].Score : null));
        }

        return states;
    }

    /// <summary>One page of a queue (<c>ZSCAN</c>), so a large queue is read in bounded steps.</summary>
    public async Task<(long Cursor, IReadOnlyList<SortedSetEntry> Entries)> ScanQueueAsync(string queueKey, long cursor, int count)
    {
        var reply = await _database.ExecuteAsync("ZSCAN", (RedisKey)queueKey, cursor, "COUNT", count).ConfigureAwait(false);
        var next = (long)reply[0];
        var flat = (RedisValue[])reply[1]!;
        var entries = new List<SortedSetEntry>(flat.Length / 2);
        for (var i = 0; i + 1 < flat.Length; i += 2)
        {
            entries.Add(new SortedSetEntry(flat[i], (double)flat[i + 1]));
        }

        return (next, entries);
    }

    /// <summary>Ingest counters and whether the member index exists, per segment (one pipelined round).</summary>
    public async Task<IReadOnlyList<SegmentState>> GetSegmentStatesAsync(IReadOnlyList<string> segmentKeys)
    {
        var pending = segmentKeys.Select(key => (
            Key: key,
            Spans: _database.StringGetAsync(_keys.IngestedCountKey(key)),
            Bytes: _database.StringGetAsync(_keys.IngestedBytesKey(key)),
            Index: _database.KeyExistsAsync(_keys.MemberKeysKey(Models.SegmentKey.Parse(key))))).ToList();
        await ((Task)Task.WhenAll(pending.SelectMany(p => new Task[] { p.Spans, p.Bytes, p.Index }))).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var states = new List<SegmentState>(pending.Count);
        foreach (var (key, spans, bytes, index) in pending)
        {
            // A counter of the wrong type reads as missing, as the flush reads it.
            states.Add(new SegmentState(key, Counter(spans), Counter(bytes), index.IsCompletedSuccessfully && await index.ConfigureAwait(false)));
        }

        return states;
    }

    /// <summary>The value of each segment's flush lock (or cleanup fence), null where none is held.</summary>
    public async Task<IReadOnlyList<(string SegmentKey, string? Holder)>> GetFlushLocksAsync(IReadOnlyList<string> segmentKeys)
    {
        var pending = segmentKeys.Select(key => (Key: key, Lock: _database.StringGetAsync(_keys.FlushLockKey(key)))).ToList();
        await WhenAllAnswered(pending.Select(p => p.Lock)).ConfigureAwait(false);
        var locks = new List<(string, string?)>(pending.Count);
        foreach (var (key, value) in pending)
        {
            locks.Add((key, (string?)await value.ConfigureAwait(false)));
        }

        return locks;
    }

    /// <summary>Deletes each segment's flush lock, whoever holds it (an operator taking over from a flusher that is gone).</summary>
    public async Task<long> BreakFlushLocksAsync(IReadOnlyList<string> segmentKeys)
    {
        var pending = segmentKeys.Select(key => _database.KeyDeleteAsync(_keys.FlushLockKey(key))).ToList();
        await WhenAllAnswered(pending).ConfigureAwait(false);
        return pending.Count(p => p.Result);
    }

    /// <summary>Whether any member index of <paramref name="memberKeys"/> lists <paramref name="salt"/>.</summary>
    public async Task<bool> IsSaltListedAsync(IReadOnlyList<string> memberKeys, string salt)
    {
        var pending = memberKeys.Select(key => _database.SetContainsAsync(key, salt)).ToList();
        await ((Task)Task.WhenAll(pending)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return pending.Any(p => p.IsCompletedSuccessfully && p.Result);
    }

    /// <summary>Whether the ingest script (<c>add-buffer.lua</c>) is in <paramref name="server"/>'s script cache.</summary>
    public static Task<bool> IsIngestScriptLoadedAsync(IServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        return server.ScriptExistsAsync(LuaScripts.AddBuffer.Hash);
    }

    private static long? Counter(Task<RedisValue> reply) =>
        reply.IsCompletedSuccessfully && reply.Result.TryParse(out long value) ? value : null;
}
