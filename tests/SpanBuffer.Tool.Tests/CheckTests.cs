using System.Text.Json;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.IntegrationTests.Ingest;
using SpanBuffer.Redis;
using StackExchange.Redis;

namespace SpanBuffer.Tool.Tests;

public abstract class CheckTests(RedisFixture fixture) : ToolTestBase(fixture)
{
    private const string Salt = "0123456789abcdef0123456789abcdef";

    private string _liveTrace = "";

    /// <summary>
    /// Healthy data of every shape: whole segments, a segment without its root, one that grew by merges (children
    /// first, root last, in separate batches: merged segments leave queue entries and root flags behind to clean), and
    /// detached segments (a 100-byte segment limit).
    /// </summary>
    private async Task IngestHealthyAsync()
    {
        _liveTrace = NewTrace();
        using var buffer = NewBuffer();
        await buffer.ProcessSpansAsync([.. Segment(_liveTrace, 0, 3), .. Segment(NewTrace(), 1, 2, withRoot: false)], Now - 100, Token);

        var merged = NewTrace();
        await buffer.ProcessSpansAsync([SpanFactory.Child("c000000000000000", "b000000000000000", traceId: merged), SpanFactory.NestedSegment("d000000000000000", "c000000000000000", traceId: merged)], Now - 90, Token);
        await buffer.ProcessSpansAsync([SpanFactory.Child("b000000000000000", "a000000000000000", traceId: merged)], Now - 80, Token);
        await buffer.ProcessSpansAsync([SpanFactory.Root("a000000000000000", traceId: merged)], Now - 70, Token);

        using var small = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = Prefix, MaxSegmentBytes = 100 });
        var detached = NewTrace();
        await small.ProcessSpansAsync(Segment(detached, 0, 2), Now - 60, Token);
        await small.ProcessSpansAsync([SpanFactory.Child("e000000000000000", "a000000000000000", 60, detached)], Now - 50, Token);
        await small.ProcessSpansAsync([SpanFactory.Child("f000000000000000", "a000000000000000", 60, detached)], Now - 50, Token);
    }

    /// <summary>Plants one of each problem, all "written" long ago (a TTL far below the buffer's 3600 s).</summary>
    private async Task<(string Payload, string Index, string QueueMember, string NoTtl)> PlantProblemsAsync()
    {
        var orphanTrace = KeySchema.ProjectAndTrace(SpanFactory.ProjectId, NewTrace());
        var payload = Keys.PayloadKey(orphanTrace, Salt);
        await Db.SetAddAsync(payload, "{\"span_id\":\"ffffffffffffffff\"}");
        await Db.KeyExpireAsync(payload, TimeSpan.FromSeconds(100));

        var indexTrace = NewTrace();
        var index = Keys.MemberKeysKey(new Models.SegmentKey(SpanFactory.ProjectId, indexTrace, "b000000000000000"));
        await Db.SetAddAsync(index, Salt);
        await Db.KeyExpireAsync(index, TimeSpan.FromSeconds(100));

        var queueMember = SegmentKeyOf(NewTrace(), "c000000000000000");
        await Db.SortedSetAddAsync(Keys.QueueKey(0, null), queueMember, Now - 500);

        var noTtl = Keys.IngestedBytesKey(SegmentKeyOf(_liveTrace));
        Assert.True(await Db.KeyPersistAsync(noTtl));
        return (payload, index, queueMember, noTtl);
    }

    private static void AssertUnchanged(Dictionary<string, long> before, Dictionary<string, long> after)
    {
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), after.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, ttl) in before)
        {
            Assert.True(ttl == -1 ? after[key] == -1 : Math.Abs(after[key] - ttl) < 60_000, $"{key}: TTL {ttl} became {after[key]}");
        }
    }

    private static Dictionary<string, long> Findings(JsonElement json) =>
        json.GetProperty("findings").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());

    [Fact]
    public async Task Check_HealthyBuffer_FindsNothingEvenWithoutGrace()
    {
        await IngestHealthyAsync();

        var run = await RunAsync("check", "--grace", "0", "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.All(Findings(run.Json()), f => Assert.True(f.Value == 0, $"{f.Key}: {f.Value}{Environment.NewLine}{run}"));
        Assert.Equal(0, run.Json().GetProperty("skipped_recent").GetInt64());
        var detachedSegments = (await Db.SortedSetRangeByRankAsync(Keys.QueueKey(0, null))).Count(m => m.ToString().Length > Keys.SegmentKey("1:" + _liveTrace, "").Length + 16);
        Assert.True(detachedSegments > 0, "the 100-byte limit detached no segment"); // the shapes above are really there
    }

    [Fact]
    public async Task Check_FindsEachPlantedProblem_AndFixRemovesExactlyThem()
    {
        await IngestHealthyAsync();
        var (payload, index, queueMember, noTtl) = await PlantProblemsAsync();
        var before = await KeysWithTtlAsync();

        var found = await RunAsync("check", "--grace", "0", "--json");

        Assert.True(found.ExitCode == 1, found.ToString());
        var findings = Findings(found.Json());
        Assert.Equal(1, findings["orphan_payload"]);
        Assert.Equal(1, findings["orphan_member_keys"]);
        Assert.Equal(1, findings["queue_entry_without_data"]);
        Assert.Equal(1, findings["no_ttl"]);
        Assert.Equal(4, findings.Values.Sum());
        var samples = found.Json().GetProperty("samples").EnumerateArray().Select(s => (s.GetProperty("kind").GetString(), s.GetProperty("key").GetString(), s.GetProperty("member").GetString())).ToList();
        Assert.Contains(("orphan_payload", payload, null), samples);
        Assert.Contains(("orphan_member_keys", index, null), samples);
        Assert.Contains(("queue_entry_without_data", Keys.QueueKey(0, null), queueMember), samples);
        Assert.Contains(("no_ttl", noTtl, null), samples);
        AssertUnchanged(before, await KeysWithTtlAsync()); // a check alone changes nothing

        var fix = await RunAsync("check", "--grace", "0", "--fix", "--json");

        Assert.True(fix.ExitCode == 0, fix.ToString());
        var removed = fix.Json().GetProperty("removed").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());
        Assert.Equal(4, removed.Values.Sum());
        var after = await KeysWithTtlAsync();
        Assert.Equal(before.Keys.Except([payload, index]).Order(StringComparer.Ordinal), after.Keys.Order(StringComparer.Ordinal));
        Assert.InRange(after[noTtl], 3_500_000, 3_600_000);
        Assert.Null(await Db.SortedSetScoreAsync(Keys.QueueKey(0, null), queueMember));
        Assert.NotNull(await Db.SortedSetScoreAsync(Keys.QueueKey(0, null), SegmentKeyOf(_liveTrace)));
        foreach (var (key, ttl) in before.Where(k => k.Key != noTtl && k.Key != payload && k.Key != index))
        {
            Assert.True(Math.Abs(after[key] - ttl) < 60_000, $"{key}: TTL {ttl} became {after[key]}");
        }

        var again = await RunAsync("check", "--grace", "0", "--json");
        Assert.True(again.ExitCode == 0, again.ToString());
    }

    [Fact]
    public async Task Check_FindsOrphanCountersTraceHashesAndCorruptQueueMembers_AndFixRemovesThem()
    {
        await IngestHealthyAsync();
        var gone = SegmentKeyOf(NewTrace(), "b000000000000000");
        var counter = Keys.IngestedCountKey(gone);
        await Db.StringSetAsync(counter, "5", TimeSpan.FromSeconds(100));
        var traceOfNothing = KeySchema.ProjectAndTrace(SpanFactory.ProjectId, NewTrace());
        var redirect = Keys.RedirectKey(traceOfNothing);
        await Db.HashSetAsync(redirect, "b000000000000000", "a000000000000000");
        await Db.KeyExpireAsync(redirect, TimeSpan.FromSeconds(100));
        var storedSalts = Keys.StoredSaltsKey(traceOfNothing);
        await Db.HashSetAsync(storedSalts, Salt, "1");
        await Db.KeyExpireAsync(storedSalts, TimeSpan.FromSeconds(100));
        await Db.SortedSetAddAsync(Keys.QueueKey(1, null), "not a segment key", Now);
        var before = await KeysWithTtlAsync();

        var found = await RunAsync("check", "--grace", "0", "--json");

        Assert.True(found.ExitCode == 1, found.ToString());
        var findings = Findings(found.Json());
        Assert.Equal(
            new Dictionary<string, long> { ["orphan_counter"] = 1, ["orphan_redirect"] = 1, ["orphan_stored_salts"] = 1, ["corrupt_queue_member"] = 1 },
            findings.Where(f => f.Value != 0).ToDictionary());

        var fix = await RunAsync("check", "--grace", "0", "--fix", "--json");

        Assert.True(fix.ExitCode == 0, fix.ToString());
        var after = await KeysWithTtlAsync();
        Assert.Equal(before.Keys.Except([counter, redirect, storedSalts]).Order(StringComparer.Ordinal), after.Keys.Order(StringComparer.Ordinal));
        Assert.Null(await Db.SortedSetScoreAsync(Keys.QueueKey(1, null), "not a segment key"));
        Assert.Equal(1, await Db.SortedSetLengthAsync(Keys.QueueKey(1, null)));
    }

    [Fact]
    public async Task Check_QueueEntryWhoseDataExpired_IsReportedAndLeftForTheFlusherToCount()
    {
        // Queued 5000 s ago with the default 3600 s TTL: its data expired before any flush took it.
        var expired = SegmentKeyOf(NewTrace(), "c000000000000000");
        await Db.SortedSetAddAsync(Keys.QueueKey(0, null), expired, Now - 5000);

        var fix = await RunAsync("check", "--grace", "0", "--fix", "--json");

        Assert.True(fix.ExitCode == 1, fix.ToString());
        Assert.Equal(1, Findings(fix.Json())["expired_queue_entry"]);
        Assert.Equal(0, Findings(fix.Json())["queue_entry_without_data"]);
        Assert.Equal(0, fix.Json().GetProperty("removed").GetProperty("expired_queue_entry").GetInt64());
        Assert.NotNull(await Db.SortedSetScoreAsync(Keys.QueueKey(0, null), expired));

        // The flush counts it, exactly once, as what it is.
        using var buffer = NewBuffer();
        var flush = await buffer.FlushSegmentsAsync(Now, Token);
        var loss = Assert.Single(flush.Losses);
        Assert.Equal(Models.SegmentLossReason.ExpiredBeforeFlush, loss.Reason);
        Assert.Equal(1, loss.Count);
    }

    [Fact]
    public async Task Check_RecentOrphan_IsLeftAloneWithinTheGracePeriod()
    {
        await IngestHealthyAsync();
        var payload = Keys.PayloadKey(KeySchema.ProjectAndTrace(SpanFactory.ProjectId, NewTrace()), Salt);
        await Db.SetAddAsync(payload, "{\"span_id\":\"ffffffffffffffff\"}");
        await Db.KeyExpireAsync(payload, TimeSpan.FromSeconds(3600)); // as an ingest in flight writes it

        var run = await RunAsync("check", "--fix", "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(0, Findings(run.Json())["orphan_payload"]);
        Assert.True(run.Json().GetProperty("skipped_recent").GetInt64() > 0);
        Assert.True(await Db.KeyExistsAsync(payload));
    }

    [Fact]
    public async Task Check_IncompleteScan_ReportsButRemovesNoOrphan()
    {
        await IngestHealthyAsync();
        var orphans = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            var payload = Keys.PayloadKey(KeySchema.ProjectAndTrace(SpanFactory.ProjectId, NewTrace()), Salt);
            await Db.SetAddAsync(payload, "{\"span_id\":\"ffffffffffffffff\"}");
            await Db.KeyExpireAsync(payload, TimeSpan.FromSeconds(100));
            orphans.Add(payload);
        }

        // One key short of all of them: at least nine of the ten orphans are seen, and the scan is incomplete.
        var total = (await Fixture.GetKeysAsync(Prefix + ":*")).Count;
        var run = await RunAsync("check", "--grace", "0", "--fix", "--max-keys", $"{total - 1}", "--scan-count", "1", "--json");

        Assert.True(run.ExitCode == 1, run.ToString());
        var json = run.Json();
        Assert.False(json.GetProperty("complete").GetBoolean());
        Assert.Equal(total - 1, json.GetProperty("scanned_keys").GetInt64()); // exact, even when the last SCAN page holds more
        Assert.True(Findings(json)["orphan_payload"] >= 9, run.ToString());
        Assert.Equal(0, json.GetProperty("removed").GetProperty("orphan_payload").GetInt64());
        Assert.Contains("incomplete and orphans were not removed", run.Stderr, StringComparison.Ordinal);
        foreach (var orphan in orphans)
        {
            Assert.True(await Db.KeyExistsAsync(orphan), orphan);
        }
    }

    [Fact]
    public async Task Check_Text_ListsCountsByKind()
    {
        await IngestHealthyAsync();
        await PlantProblemsAsync();

        var run = await RunAsync("check", "--grace", "0");

        Assert.Equal(1, run.ExitCode);
        Assert.Matches(@"orphan_payload\s+1", run.Stdout);
        Assert.Matches(@"queue_entry_without_data\s+1", run.Stdout);
        Assert.Matches(@"orphan_counter\s+0", run.Stdout);
    }
}

public sealed class CheckTestsOnStandalone(StandaloneRedisFixture fixture) : CheckTests(fixture);

public sealed class CheckTestsOnCluster(ClusterRedisFixture fixture) : CheckTests(fixture);
