using SpanBuffer.FaultTests.Infrastructure;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;
using StackExchange.Redis;

namespace SpanBuffer.FaultTests;

/// <summary>
/// Regression: corrupt queue members, counters and member indexes are skipped and counted, the healthy segments
/// beside them flush, and the spans a corrupt index hides are counted as lost (not lost silently).
/// </summary>
public abstract class CorruptDataAccountingTests(RedisFixture fixture) : FaultTestBase(fixture)
{
    [Fact]
    public async Task CorruptMembersCountersAndIndexTypes_AreSkippedAndCounted_AndTheLedgerCloses()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(prefix);
        var ledger = new SpanLedger();
        await Buffers.IngestAsync(buffer, ledger, [Workload.Load()], Workload.Now);

        var queue = prefix + ":q:0";
        var segments = (await Db.SortedSetRangeByRankAsync(queue)).Select(m => (string)m!).ToArray();
        var withCounts = new List<(string Key, long Count)>();
        foreach (var segment in segments)
        {
            if ((long?)await Db.StringGetAsync($"{prefix}:ic:{segment}") is { } count and > 1)
            {
                withCounts.Add((segment, count));
            }
        }

        Assert.True(withCounts.Count >= 2, "The workload should put two multi-span segments in shard 0.");
        var (badCounter, _) = withCounts[0];
        var (badIndex, hiddenSpans) = withCounts[1];

        // A counter that is not an integer: read as missing, its segment still flushes.
        await Db.StringSetAsync($"{prefix}:ic:{badCounter}", "two", TimeSpan.FromHours(1));

        // A member index of the wrong type: its spans cannot be found, and must be counted as dropped.
        var index = prefix + ":mk:" + badIndex[(prefix.Length + 3)..];
        var hiddenSalts = (await Db.SetMembersAsync(index)).Select(s => (string)s!).ToArray();
        await Db.KeyDeleteAsync(index);
        await Db.StringSetAsync(index, "not a set", TimeSpan.FromHours(1));

        // Queue members that are not segment keys.
        RedisValue[] garbage = ["not-a-segment-key", "span-buf:s:{x:trace}:root", (byte[])[0xff, 0xfe]];
        await Db.SortedSetAddAsync(queue, garbage.Select(m => new SortedSetEntry(m, Workload.Now)).ToArray());

        long corrupt = 0;
        var traceOfHidden = SegmentKey.Parse(badIndex);
        for (var round = 0; round < 20; round++)
        {
            var result = await Buffers.FlushAndDoneAsync(buffer, ledger, Workload.AfterTimeout);
            corrupt += result.Stats.CorruptEntries;
            if (result.Stats.Candidates == 0)
            {
                break;
            }
        }

        Assert.True(corrupt >= garbage.Length + 2, $"CorruptEntries = {corrupt}, expected at least {garbage.Length + 2}.");
        Assert.Equal(hiddenSpans, ledger.Losses(SegmentLossReason.Dropped));
        ledger.AssertBalanced(allowCountedLosses: true);

        // The hidden payload sets were never loaded, so cleanup could not unlink them (nor remove the redirects of
        // their spans, nor their entries in the trace's stored salts): they wait for their TTL.
        await Db.KeyDeleteAsync(index);
        await Db.KeyDeleteAsync($"{prefix}:ssr:{{{traceOfHidden.ProjectId}:{traceOfHidden.TraceId}}}");
        await Db.KeyDeleteAsync($"{prefix}:ss:{{{traceOfHidden.ProjectId}:{traceOfHidden.TraceId}}}");
        foreach (var salt in hiddenSalts)
        {
            await Db.KeyDeleteAsync($"{prefix}:s:{{{traceOfHidden.ProjectId}:{traceOfHidden.TraceId}:{salt}}}:{salt}");
        }

        await AssertNoKeysLeftAsync(prefix);
    }
}

public sealed class CorruptDataAccountingTestsOnStandalone(StandaloneRedisFixture fixture) : CorruptDataAccountingTests(fixture);

public sealed class CorruptDataAccountingTestsOnCluster(ClusterRedisFixture fixture) : CorruptDataAccountingTests(fixture);
