using SpanBuffer.Models;
using StackExchange.Redis;

namespace SpanBuffer.FaultTests.Infrastructure;

/// <summary>Ingest and flush helpers that record into a <see cref="SpanLedger"/>.</summary>
internal static class Buffers
{
    public static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>Options for a test: its own key prefix, the workload's four shards, everything else default.</summary>
    public static SpanBufferOptions Options(string prefix, TimeSpan? flushLockTtl = null) => new()
    {
        KeyPrefix = prefix,
        AssignedShards = Workload.AllShards,
        FlushLockTtl = flushLockTtl ?? TimeSpan.Zero,
    };

    /// <summary>Ingests each batch and records it as ingested once ProcessSpansAsync returned.</summary>
    public static async Task IngestAsync(SpansBuffer buffer, SpanLedger ledger, IEnumerable<IReadOnlyList<Span>> batches, long now)
    {
        foreach (var batch in batches)
        {
            await buffer.ProcessSpansAsync(batch, now, Token);
            ledger.Ingest(batch);
        }
    }

    /// <summary>One flush handed off completely: read, record as delivered, clean up.</summary>
    public static async Task<FlushResult> FlushAndDoneAsync(SpansBuffer buffer, SpanLedger ledger, long now)
    {
        var result = await buffer.FlushSegmentsAsync(now, Token);
        ledger.Deliver(result);
        await buffer.DoneFlushSegmentsAsync(result.Segments, Token);
        return result;
    }

    /// <summary>Flushes and cleans up until a flush finds no candidates (at most <paramref name="maxRounds"/>).</summary>
    public static async Task DrainAsync(SpansBuffer buffer, SpanLedger ledger, long now, int maxRounds = 20)
    {
        for (var round = 0; round < maxRounds; round++)
        {
            var result = await FlushAndDoneAsync(buffer, ledger, now);
            if (result.Stats.Candidates == 0)
            {
                return;
            }
        }

        Assert.Fail($"Still flushing after {maxRounds} rounds.");
    }

    /// <summary>Keys of the test's prefix other than has-root flags (which the reference tolerates after cleanup).</summary>
    public static IReadOnlyList<string> Leftovers(IEnumerable<string> keys) =>
        keys.Where(k => !k.Contains(":hrs:", StringComparison.Ordinal)).ToArray();

    /// <summary>
    /// Payload keys (<c>prefix:s:{p:t:salt}:salt</c>; segment keys are never stored) that no member index
    /// (<c>prefix:mk:{p:t}:root</c>) lists: data no flush can ever reach.
    /// </summary>
    public static async Task<IReadOnlyList<string>> UnlistedPayloadKeysAsync(IDatabase db, Func<string, Task<IReadOnlyList<string>>> keys, string prefix)
    {
        var listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var index in await keys(prefix + ":mk:*"))
        {
            var tag = index[(index.IndexOf('{') + 1)..index.IndexOf('}')];
            foreach (var salt in await db.SetMembersAsync(index))
            {
                listed.Add($"{prefix}:s:{{{tag}:{salt}}}:{salt}");
            }
        }

        return (await keys(prefix + ":s:*")).Where(k => !listed.Contains(k)).ToArray();
    }
}
