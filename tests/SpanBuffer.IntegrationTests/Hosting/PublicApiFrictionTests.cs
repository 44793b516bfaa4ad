using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;
using StackExchange.Redis;

namespace SpanBuffer.IntegrationTests.Hosting;

/// <summary>
/// Issue 12, point 4: the memory read behind the hard backpressure works on a connection without <c>allowAdmin</c>, and
/// a host can build segments through the public API (sink tests, its own data) and hand them to the cleanup.
/// </summary>
public abstract class PublicApiFrictionTests(RedisFixture fixture) : HostingTestBase(fixture)
{
    [Fact]
    public async Task GetMemoryUsage_ConnectionWithoutAllowAdmin_ReadsEveryPrimaryAsInfoReportsIt()
    {
        await using var redis = await ConnectWithoutAdminAsync();
        using var buffer = new SpansBuffer(redis, new SpanBufferOptions { KeyPrefix = NewKeyPrefix() });

        var usage = await buffer.GetMemoryUsageAsync(Ct);

        var expected = await AdminMemoryInfoAsync();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), usage.Nodes.Select(node => node.EndPoint).Order(StringComparer.Ordinal));
        foreach (var node in usage.Nodes)
        {
            var (used, max, total) = expected[node.EndPoint];
            Assert.Equal(max > 0 ? max : total, node.AvailableBytes);
            Assert.InRange(node.UsedBytes, 1, used + (64L << 20)); // other tests write meanwhile
            Assert.InRange(node.UsedBytes, Math.Max(1, used - (64L << 20)), long.MaxValue);
        }

        Assert.Equal(usage.Nodes.Sum(node => node.UsedBytes), usage.UsedBytes);
        Assert.Equal(usage.Nodes.Sum(node => node.AvailableBytes), usage.AvailableBytes);
    }

    [Fact]
    public async Task GetMemoryUsage_ConnectionWithoutAllowAdminAndMaxMemorySet_AvailableIsEachPrimarysMaxMemory()
    {
        await using var redis = await ConnectWithoutAdminAsync();
        using var buffer = new SpansBuffer(redis, new SpanBufferOptions { KeyPrefix = NewKeyPrefix() });
        var primaries = Fixture.Primaries.ToArray();
        var original = new Dictionary<IServer, string>();
        var limits = new Dictionary<string, long>(StringComparer.Ordinal);
        try
        {
            for (var i = 0; i < primaries.Length; i++)
            {
                // Far above what any test uses (other tests share these servers), and different per node.
                var limit = (8L << 30) + (i * (1L << 20));
                original[primaries[i]] = (await primaries[i].ConfigGetAsync("maxmemory")).Single().Value;
                await primaries[i].ConfigSetAsync("maxmemory", limit.ToString(CultureInfo.InvariantCulture));
                limits[primaries[i].EndPoint.ToString()!] = limit;
            }

            var usage = await buffer.GetMemoryUsageAsync(Ct);

            Assert.Equal(primaries.Length, usage.Nodes.Count);
            Assert.All(usage.Nodes, node => Assert.Equal(limits[node.EndPoint], node.AvailableBytes));
            Assert.Equal(limits.Values.Sum(), usage.AvailableBytes);
            Assert.InRange(usage.Ratio, double.Epsilon, 0.01);
        }
        finally
        {
            foreach (var (server, value) in original)
            {
                await server.ConfigSetAsync("maxmemory", value);
            }
        }
    }

    [Fact]
    public async Task HardBackpressure_ConnectionWithoutAllowAdmin_PausesIngest()
    {
        await using var redis = await ConnectWithoutAdminAsync();
        using var buffer = new SpansBuffer(redis, new SpanBufferOptions { KeyPrefix = NewKeyPrefix(), MaxMemoryRatio = 0.0000001 });
        using var flusher = new SpanFlusher(buffer, new RecordingSink());

        Assert.True(await flusher.CheckBackpressureAsync(Ct));
        Assert.True(flusher.IsHardBackpressureActive);
        Assert.True(flusher.ShouldPauseIngest);
    }

    [Fact]
    public async Task GetMemoryUsage_CancelledToken_ThrowsOperationCanceledException()
    {
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = NewKeyPrefix() });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => buffer.GetMemoryUsageAsync(new CancellationToken(canceled: true)));
    }

    [Fact]
    public async Task DoneFlushSegments_SinkTestSegmentBuiltThroughThePublicApi_CleansWithoutErrors()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix });
        var sink = new RecordingSink();

        // A sink test builds its segment from its own JSON: no FlushCandidate, no size bookkeeping.
        var segment = FlushedSegment.Create(
            new SegmentKey(42, "5b8efff798038103d269b633813fc60c", "a000000000000001"),
            [
                OutputSpan.FromJson("""{"span_id":"a000000000000001","is_segment":true,"name":"root"}"""),
                OutputSpan.FromJson("""{ "span_id": "b000000000000002", "parent_span_id": "a000000000000001" }"""),
            ],
            keyPrefix: prefix);
        foreach (var message in segment.ToMessages(maxBytes: 1_000_000))
        {
            await sink.ProduceAsync(message, Ct);
        }

        var cleanup = await buffer.DoneFlushSegmentsAsync([segment], Ct);

        var delivered = Assert.Single(sink.Delivered);
        using var json = JsonDocument.Parse(delivered.ToArray());
        Assert.Equal(2, json.RootElement.GetProperty("spans").GetArrayLength());
        Assert.Equal(["a000000000000001", "b000000000000002"], sink.DeliveredSpanIds);
        Assert.Equal(1, cleanup.Segments);
        Assert.Empty(cleanup.Losses);
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task DoneFlushSegments_HostBuiltSegmentOfIngestedSpans_RemovesItFromTheQueue()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [Shard] });
        var ingested = TestSegment.Create(spanCount: 3);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await buffer.ProcessSpansAsync(ingested.Spans, now, Ct);
        Assert.Equal([ingested.SegmentKey(prefix)], await QueueMembersAsync(prefix));

        // The host delivered these spans from its own copy and builds the segment for the cleanup.
        var segment = FlushedSegment.Create(
            new SegmentKey(ingested.ProjectId, ingested.TraceId, ingested.RootId),
            ingested.Spans.Select(span => OutputSpan.FromJson(span.Payload)),
            keyPrefix: prefix,
            shard: Shard);
        var cleanup = await buffer.DoneFlushSegmentsAsync([segment], Ct);

        Assert.Equal(1, cleanup.Segments);
        Assert.Empty(await QueueMembersAsync(prefix));
        Assert.Empty(await Db.HashGetAllAsync($"{prefix}:ssr:{{{ingested.ProjectId}:{ingested.TraceId}}}"));
        Assert.False(await Db.KeyExistsAsync($"{prefix}:hrs:{ingested.SegmentKey(prefix)}"));
        Assert.Empty((await buffer.FlushSegmentsAsync(now + 3600, Ct)).Segments);
    }

    [Fact]
    public async Task DoneFlushSegments_FlushResultOverload_CleansEverySegmentOfTheFlush()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [Shard] });
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await buffer.ProcessSpansAsync([.. TestSegment.Create(spanCount: 2).Spans, .. TestSegment.Create(spanCount: 3).Spans], now, Ct);
        var flush = await buffer.FlushSegmentsAsync(now + 60, Ct);
        Assert.Equal(2, flush.Segments.Count);

        var cleanup = await buffer.DoneFlushSegmentsAsync(flush, Ct);

        Assert.Equal(2, cleanup.Segments);
        Assert.Empty(cleanup.Losses);
        Assert.Empty(await KeysAsync(prefix));
    }

    /// <summary>A connection to the fixture's deployment with <c>allowAdmin=false</c>, which StackExchange.Redis refuses INFO on.</summary>
    private async Task<ConnectionMultiplexer> ConnectWithoutAdminAsync()
    {
        var options = ConfigurationOptions.Parse(Fixture.ConnectionString);
        options.AllowAdmin = false;
        var redis = await ConnectionMultiplexer.ConnectAsync(options);
        var expected = Fixture.Primaries.Count();
        var started = Stopwatch.GetTimestamp();
        while (redis.GetServers().Count(server => server.IsConnected && !server.IsReplica) < expected)
        {
            Assert.True(Stopwatch.GetElapsedTime(started) < WaitTimeout, "the connection without admin did not see every primary");
            await Task.Delay(50, Ct);
        }

        var anyServer = redis.GetServers().First(server => server.IsConnected);
        await Assert.ThrowsAsync<RedisCommandException>(() => anyServer.InfoAsync("memory"));
        return redis;
    }

    /// <summary>used_memory, maxmemory and total_system_memory of every primary, read over the fixture's admin connection.</summary>
    private async Task<Dictionary<string, (long Used, long Max, long Total)>> AdminMemoryInfoAsync()
    {
        var nodes = new Dictionary<string, (long, long, long)>(StringComparer.Ordinal);
        foreach (var primary in Fixture.Primaries)
        {
            var values = (await primary.InfoAsync("memory")).SelectMany(group => group).ToDictionary(pair => pair.Key, pair => pair.Value, StringComparer.Ordinal);
            long Read(string name) => long.Parse(values[name], CultureInfo.InvariantCulture);
            nodes[primary.EndPoint.ToString()!] = (Read("used_memory"), Read("maxmemory"), Read("total_system_memory"));
        }

        return nodes;
    }
}

public sealed class PublicApiFrictionTestsOnStandalone(StandaloneRedisFixture fixture) : PublicApiFrictionTests(fixture);

public sealed class PublicApiFrictionTestsOnCluster(ClusterRedisFixture fixture) : PublicApiFrictionTests(fixture);
