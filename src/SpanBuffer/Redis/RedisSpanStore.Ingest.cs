using SpanBuffer.Flush;
using SpanBuffer.Ingest;
using StackExchange.Redis;

namespace SpanBuffer.Redis;

/// <summary>A subsegment paired with what the ingest script did with it.</summary>
internal sealed record InsertedSubsegment(Subsegment Subsegment, AddBufferResult Result);

/// <summary>What one ingest call writes to the queues, computed before anything is sent.</summary>
internal readonly record struct QueueSettings(long TimeoutSeconds, long RootTimeoutSeconds, long TtlSeconds, int? SliceId);

internal sealed partial class RedisSpanStore
{
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

    /// <summary>Runs the ingest script once per subsegment (reference §3.5); each reply stays with its input.</summary>
    public async Task<IReadOnlyList<InsertedSubsegment>> InsertSubsegmentsAsync(IReadOnlyList<Subsegment> group, AddBufferSettings settings)
    {
        // Script calls are plain concurrent commands, never an IBatch: after a script-cache loss a batched
        // EVALSHA would never be retried with the script text.
        var pending = new List<(Subsegment Input, Task<RedisResult> Reply)>(group.Count);
        foreach (var subsegment in group)
        {
            pending.Add((subsegment, AddBufferScript.RunAsync(_database, subsegment, settings)));
        }

        await WhenAllAnswered(pending.Select(p => p.Reply)).ConfigureAwait(false);
        var inserted = new List<InsertedSubsegment>(pending.Count);
        foreach (var (input, reply) in pending)
        {
            inserted.Add(new InsertedSubsegment(input, AddBufferScript.ParseResult(await reply.ConfigureAwait(false))));
        }

        return inserted;
    }

    /// <summary>
    /// Moves each touched segment's deadline and removes the queue entries of segments merged into another
    /// (reference §3.6). All adds are sent before all removals.
    /// </summary>
    public async Task UpdateQueueAsync(IReadOnlyList<InsertedSubsegment> inserted, long now, QueueSettings settings)
    {
        var adds = new Dictionary<string, Dictionary<string, long>>(StringComparer.Ordinal);
        var deletes = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var (subsegment, result) in inserted)
        {
            var queueKey = _keys.QueueKey(subsegment.Partition, settings.SliceId);
            var deadline = now + (result.HasRootSpan ? settings.RootTimeoutSeconds : settings.TimeoutSeconds);
            GetOrAdd(adds, queueKey)[result.SegmentKey] = deadline;
            if (result.IsDetached)
            {
                continue;
            }

            var stale = GetOrAdd(deletes, queueKey);
            foreach (var mergedRoot in result.MergedRoots)
            {
                stale.Add(_keys.SegmentKey(subsegment.ProjectAndTrace, mergedRoot));
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
