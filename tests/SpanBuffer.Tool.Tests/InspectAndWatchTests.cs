using System.Text.Json;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.Tool.Tests;

public abstract class InspectAndWatchTests(RedisFixture fixture) : ToolTestBase(fixture)
{
    private const long Earlier = Now - 100;

    private string _traceA = "";
    private string _traceB = "";
    private string _traceC = "";

    /// <summary>
    /// Shard 0: A (root + 3 children of 50 bytes, root timeout 10 s, due since Now-90) and B (2 children without their
    /// root, timeout 60 s, due since Now-40). Shard 1: C (root + 1 child ingested at Now, due at Now+10).
    /// </summary>
    private async Task PlantAsync()
    {
        _traceA = NewTrace();
        _traceB = NewTrace();
        _traceC = NewTrace();
        using var buffer = NewBuffer();
        await buffer.ProcessSpansAsync([.. Segment(_traceA, 0, 3, bytes: 50), .. Segment(_traceB, 0, 2, withRoot: false)], Earlier, Token);
        await buffer.ProcessSpansAsync(Segment(_traceC, 1, 1), Now, Token);
    }

    [Fact]
    public async Task Inspect_Json_MatchesPlantedQueuesSegmentsAndKeys()
    {
        await PlantAsync();

        var run = await RunAsync("inspect", "--shards", "2", "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        var json = run.Json();
        Assert.Equal(Now, json.GetProperty("now").GetInt64());
        Assert.Equal(Fixture.Topology == RedisTopology.Cluster ? "cluster" : "standalone", json.GetProperty("topology").GetString());
        var shards = json.GetProperty("shards").EnumerateArray().ToList();
        Assert.Equal(2, shards.Count);
        Assert.Equal(2, shards[0].GetProperty("segments").GetInt64());
        Assert.Equal(2, shards[0].GetProperty("due").GetInt64());
        Assert.Equal(90, shards[0].GetProperty("oldest_due_lag_seconds").GetInt64());
        Assert.Equal(1, shards[1].GetProperty("segments").GetInt64());
        Assert.Equal(0, shards[1].GetProperty("due").GetInt64());
        Assert.Equal(JsonValueKind.Null, shards[1].GetProperty("oldest_due_lag_seconds").ValueKind);

        var byBytes = shards[0].GetProperty("largest_by_bytes").EnumerateArray().ToList();
        Assert.Equal(SegmentKeyOf(_traceA), byBytes[0].GetProperty("segment_key").GetString());
        Assert.Equal(200, byBytes[0].GetProperty("bytes").GetInt64());
        Assert.Equal(4, byBytes[0].GetProperty("spans").GetInt64());
        Assert.Equal(80, byBytes[1].GetProperty("bytes").GetInt64());
        var bySpans = shards[1].GetProperty("largest_by_spans").EnumerateArray().Single();
        Assert.Equal(SegmentKeyOf(_traceC), bySpans.GetProperty("segment_key").GetString());
        Assert.Equal(2, bySpans.GetProperty("spans").GetInt64());

        var primaries = json.GetProperty("primaries").EnumerateArray().ToList();
        Assert.Equal(Fixture.Primaries.Count(), primaries.Count);
        Assert.All(primaries, p => Assert.True(p.GetProperty("used_memory").GetInt64() > 0));
        Assert.Contains(primaries, p => p.GetProperty("ingest_script_loaded").GetBoolean());

        var families = json.GetProperty("key_families");
        Assert.True(families.GetProperty("complete").GetBoolean());
        Assert.False(families.GetProperty("estimate").GetBoolean());
        var counts = families.GetProperty("counts");
        var allKeys = await Fixture.GetKeysAsync(Prefix + ":*");
        Assert.Equal(allKeys.Count, families.GetProperty("sampled_keys").GetInt64());
        Assert.Equal(2, counts.GetProperty("queue").GetInt64());
        Assert.Equal(3, counts.GetProperty("member_keys").GetInt64());
        Assert.Equal(3, counts.GetProperty("ingested_count").GetInt64());
        Assert.Equal(3, counts.GetProperty("ingested_bytes").GetInt64());
        Assert.Equal(3, counts.GetProperty("redirect").GetInt64());
        Assert.Equal(allKeys.Count(k => k.StartsWith(Prefix + ":s:{", StringComparison.Ordinal)), counts.GetProperty("payload").GetInt64());
        Assert.Equal(0, counts.GetProperty("unknown").GetInt64());
    }

    [Fact]
    public async Task Inspect_Text_IsATableAndABoundedSampleIsMarkedAsAnEstimate()
    {
        await PlantAsync();

        var run = await RunAsync("inspect", "--shard-list", "0", "--max-keys", "3", "--scan-count", "2");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains(Keys.QueueKey(0, null), run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(Keys.QueueKey(1, null), run.Stdout, StringComparison.Ordinal);
        Assert.Contains("oldest due lag (s)", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("ESTIMATE", run.Stdout, StringComparison.Ordinal);
        Assert.Contains(SegmentKeyOf(_traceA), run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_MaxKeysBelowAQueue_ReadsExactlyThatManyMembersAndSaysSo()
    {
        await PlantAsync();

        // Queue 0 holds two segments; a small queue comes back from ZSCAN in one page whatever COUNT says.
        var run = await RunAsync("inspect", "--shard-list", "0", "--max-keys", "1", "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        var shard = run.Json().GetProperty("shards").EnumerateArray().Single();
        Assert.Equal(2, shard.GetProperty("segments").GetInt64());
        Assert.Single(shard.GetProperty("largest_by_bytes").EnumerateArray());
        Assert.False(shard.GetProperty("members_complete").GetBoolean());
    }

    [Fact]
    public async Task Inspect_Now_SetsTheClockOfDueCountsAndLag()
    {
        await PlantAsync();

        var run = await RunAsync("inspect", "--shard-list", "0", "--now", $"{Now - 50}", "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        var shard = run.Json().GetProperty("shards").EnumerateArray().Single();
        Assert.Equal((1L, 40L), (shard.GetProperty("due").GetInt64(), shard.GetProperty("oldest_due_lag_seconds").GetInt64()));
    }

    [Fact]
    public async Task Inspect_LongScan_PrintsProgressOnStderr()
    {
        await PlantAsync();
        Time.AutoAdvanceAmount = TimeSpan.FromSeconds(1); // every reading of the clock is a second later

        var run = await RunAsync("inspect", "--scan-count", "1", "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("scanning keys: ", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("scanned keys: ", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("scanning", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_WithoutShards_FindsTheQueuesUnderThePrefix()
    {
        await PlantAsync();

        var run = await RunAsync("inspect", "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal([0, 1], run.Json().GetProperty("shards").EnumerateArray().Select(s => s.GetProperty("shard").GetInt32()));
    }

    [Fact]
    public async Task Inspect_SliceId_ReadsOnlyThatSlicesQueues()
    {
        using (var sliced = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = Prefix, SliceId = 3 }))
        {
            await sliced.ProcessSpansAsync(Segment(NewTrace(), 2, 1), Now - 100, Token);
        }

        await PlantAsync();

        var run = await RunAsync("inspect", "--slice-id", "3", "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        var shard = run.Json().GetProperty("shards").EnumerateArray().Single();
        Assert.Equal((2, Keys.QueueKey(2, 3), 1L, 1L), (shard.GetProperty("shard").GetInt32(), shard.GetProperty("queue_key").GetString(), shard.GetProperty("segments").GetInt64(), shard.GetProperty("due").GetInt64()));
    }

    [Fact]
    public async Task Watch_TwoIterations_ReportsSegmentsInAndOutPerShard()
    {
        await PlantAsync();
        var traceD = NewTrace();
        var hooks = new ToolHooks
        {
            AfterRefresh = async (iteration, token) =>
            {
                if (iteration == 1)
                {
                    // One segment in on shard 0, one out of shard 1, five seconds later.
                    using var buffer = NewBuffer(1);
                    await buffer.ProcessSpansAsync(Segment(traceD, 0, 1), Now, token);
                    var flush = await buffer.FlushSegmentsAsync(Now + 60, token);
                    Assert.Single(flush.Segments);
                    await buffer.DoneFlushSegmentsAsync(flush.Segments, token);
                    Time.Advance(TimeSpan.FromSeconds(5));
                }
            },
        };

        var run = await RunRawAsync(["watch", "--redis", Fixture.ConnectionString, "--prefix", Prefix, "--shards", "2", "--interval", "5", "--iterations", "2", "--json"], hooks);

        Assert.True(run.ExitCode == 0, run.ToString());
        var refreshes = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, refreshes.Count);
        Assert.Empty(refreshes[0].GetProperty("rates").EnumerateArray());
        Assert.Equal(5.0, refreshes[1].GetProperty("elapsed_seconds").GetDouble());
        var rates = refreshes[1].GetProperty("rates").EnumerateArray().ToList();
        Assert.Equal((3L, 1L, 0L, 0.2), (rates[0].GetProperty("segments").GetInt64(), rates[0].GetProperty("in").GetInt64(), rates[0].GetProperty("out").GetInt64(), rates[0].GetProperty("in_per_second").GetDouble()));
        Assert.Equal((0L, 0L, 1L, 0.2), (rates[1].GetProperty("segments").GetInt64(), rates[1].GetProperty("in").GetInt64(), rates[1].GetProperty("out").GetInt64(), rates[1].GetProperty("out_per_second").GetDouble()));
    }

    [Fact]
    public async Task Watch_WithoutIterations_EndsWithZeroWhenInterrupted()
    {
        await PlantAsync();
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(Token);
        var hooks = new ToolHooks { AfterRefresh = async (_, _) => await interrupt.CancelAsync() };

        var run = await RunRawAsync(["watch", "--redis", Fixture.ConnectionString, "--prefix", Prefix, "--interval", "60", "--json"], hooks, interrupt.Token);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Single(run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Watch_Text_PrintsEachRefresh()
    {
        await PlantAsync();
        var hooks = new ToolHooks { AfterRefresh = (_, _) => { Time.Advance(TimeSpan.FromSeconds(2)); return Task.CompletedTask; } };

        var run = await RunRawAsync(["watch", "--redis", Fixture.ConnectionString, "--prefix", Prefix, "--interval", "2", "--iterations", "3"], hooks);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("=== refresh 3 ===", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("=== refresh 4 ===", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("in/s", run.Stdout, StringComparison.Ordinal);
    }
}

public sealed class InspectAndWatchTestsOnStandalone(StandaloneRedisFixture fixture) : InspectAndWatchTests(fixture);

public sealed class InspectAndWatchTestsOnCluster(ClusterRedisFixture fixture) : InspectAndWatchTests(fixture);
