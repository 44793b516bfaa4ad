using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;

namespace SpanBuffer.IntegrationTests.Hosting;

/// <summary>
/// Which queue shards a buffer flushes: the default (shard 0), none at all, and assignments that change on a live
/// consumer, through <see cref="SpansBuffer.AssignShards"/> or a reloaded <see cref="SpanBufferOptions.AssignedShards"/>.
/// </summary>
public abstract class ShardAssignmentTests(RedisFixture fixture) : HostingTestBase(fixture)
{
    private const long IngestTime = 1_700_000_000;
    private const long FlushTime = IngestTime + 60;

    [Fact]
    public async Task Flush_AssignmentNotSet_FlushesShardZeroOnly()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix });
        var segments = await IngestAsync(buffer, 0, 1);

        var flush = await buffer.FlushSegmentsAsync(FlushTime, Ct);

        Assert.Equal([0], buffer.AssignedShards);
        Assert.Equal([segments[0].SegmentKey(prefix)], flush.Segments.Select(s => s.SegmentKey));
    }

    [Fact]
    public async Task Flush_NoShardAssigned_ReadsNoQueueAndIngestStillQueues()
    {
        var prefix = NewKeyPrefix();
        using var idle = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [] });

        // Ingest is unaffected: each span's queue comes from its partition.
        var segments = await IngestAsync(idle, 0, 1);

        var flush = await idle.FlushSegmentsAsync(FlushTime, Ct);
        Assert.Empty(flush.Segments);
        Assert.Equal(0, flush.Stats.Candidates);
        Assert.Empty(await idle.GetQueueSizesAsync(Ct));
        Assert.Empty(idle.AssignedShards);
        Assert.Equal([segments[0].SegmentKey(prefix)], await QueueMembersAsync(prefix, 0));
        Assert.Equal([segments[1].SegmentKey(prefix)], await QueueMembersAsync(prefix, 1));
    }

    [Fact]
    public async Task AssignShards_DisjointOverlappingNoneAndBack_FlushesEverySpanExactlyOnce()
    {
        var prefix = NewKeyPrefix();
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(new FakeLoggerProvider(logs)));
        using var buffer = new SpansBuffer(
            Redis, new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [0], FlushLockTtl = TimeSpan.FromSeconds(30) }, loggerFactory);
        var ingested = new List<TestSegment>();
        var delivered = new List<string>();

        async Task<IReadOnlyList<int>> FlushAsync()
        {
            var flush = await buffer.FlushSegmentsAsync(FlushTime, Ct);
            delivered.AddRange(flush.Segments.SelectMany(s => s.Spans).Select(span => SpanIdOf(span)));
            await buffer.DoneFlushSegmentsAsync(flush, Ct);
            return [.. flush.Segments.Select(s => ShardOf(s)).Distinct().Order()];
        }

        ingested.AddRange(await IngestAsync(buffer, 0, 1, 2, 3));
        Assert.Equal([0], await FlushAsync());

        buffer.AssignShards([1, 2]);
        Assert.Equal([1, 2], await FlushAsync());

        ingested.AddRange(await IngestAsync(buffer, 0, 1, 2, 3));
        buffer.AssignShards([2, 3]);
        Assert.Equal([2, 3], await FlushAsync());

        buffer.AssignShards([]);
        Assert.Empty(await FlushAsync());

        buffer.AssignShards([0, 1, 2, 3]);
        Assert.Equal([0, 1], await FlushAsync());

        Assert.Equal(ingested.SelectMany(s => s.SpanIds).Order(StringComparer.Ordinal), delivered.Order(StringComparer.Ordinal));
        Assert.Empty(await KeysAsync(prefix));
        Assert.Equal(
            ["[1,2] (before: [0])", "[2,3] (before: [1,2])", "[] (before: [2,3])", "[0,1,2,3] (before: [])"],
            logs.GetSnapshot().Where(r => r.Id.Name == "FlushShardsChanged").Select(r => r.Message["Flushing shards ".Length..].Replace(" from now on", "", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task AssignShards_FlushInFlight_FinishesWithTheShardsItStartedWith()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [0] });
        var segments = await IngestAsync(buffer, 0, 1);

        var flushing = buffer.FlushSegmentsAsync(FlushTime, Ct);
        buffer.AssignShards([1]);
        var flush = await flushing;

        Assert.Equal([segments[0].SegmentKey(prefix)], flush.Segments.Select(s => s.SegmentKey));
        var next = await buffer.FlushSegmentsAsync(FlushTime, Ct);
        Assert.Equal([segments[1].SegmentKey(prefix)], next.Segments.Select(s => s.SegmentKey));
    }

    [Fact]
    public async Task AssignShards_MoreShards_DividesTheFlushLimitOverTheNewCount()
    {
        var prefix = NewKeyPrefix();
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [0], MaxFlushSegments = 4 });
        await IngestAsync(buffer, 0, 0, 0, 0, 0, 0, 1, 1, 1);

        var one = await buffer.FlushSegmentsAsync(FlushTime, Ct);
        Assert.Equal(4, one.Segments.Count);

        buffer.AssignShards([0, 1]);
        var two = await buffer.FlushSegmentsAsync(FlushTime, Ct);

        // Four over two shards: two from each, although shard 0 still holds six due segments (nothing was cleaned).
        Assert.Equal([0, 0, 1, 1], two.Segments.Select(s => ShardOf(s)).Order());
        Assert.Equal(4, two.Stats.Candidates);
    }

    [Fact]
    public async Task AssignShards_BadShards_ThrowAndKeepTheAssignment()
    {
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = NewKeyPrefix(), AssignedShards = [4] });

        Assert.Throws<ArgumentException>(() => buffer.AssignShards([1, -1]));
        Assert.Throws<ArgumentException>(() => buffer.AssignShards([2, 2]));
        Assert.Throws<ArgumentNullException>(() => buffer.AssignShards(null!));
        Assert.Equal([4], buffer.AssignedShards);
    }

    [Fact]
    public async Task TwoOwnersDuringTheSwitch_WithFlushLocks_EachSegmentGoesToOne()
    {
        var prefix = NewKeyPrefix();
        var options = new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [0, 1], FlushLockTtl = TimeSpan.FromSeconds(30) };
        using var leaving = new SpansBuffer(Redis, options);
        using var joining = new SpansBuffer(Redis, new SpanBufferOptions(options) { AssignedShards = [1, 2] });
        var segments = await IngestAsync(leaving, 0, 1, 1, 1, 2);

        // Both flush shard 1 before either cleans up: the locks split its segments between them.
        var flushes = await Task.WhenAll(leaving.FlushSegmentsAsync(FlushTime, Ct), joining.FlushSegmentsAsync(FlushTime, Ct));
        var keys = flushes.SelectMany(f => f.Segments).Select(s => s.SegmentKey).ToList();
        Assert.Equal(segments.Select(s => s.SegmentKey(prefix)).Order(StringComparer.Ordinal), keys.Order(StringComparer.Ordinal));

        await Task.WhenAll(leaving.DoneFlushSegmentsAsync(flushes[0], Ct), joining.DoneFlushSegmentsAsync(flushes[1], Ct));
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task HostedFlusher_ReloadedAssignmentAndSlice_AppliesAtTheNextCycle()
    {
        var prefix = NewKeyPrefix();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SpanBuffer:KeyPrefix"] = prefix,
            ["SpanBuffer:AssignedShards:0"] = "0",
        });
        builder.Services.AddSingleton(Redis);
        builder.Services.AddSpanBuffer();
        builder.Services.AddSpanFlusher<RecordingSink>();
        using var host = builder.Build();
        var configuration = (IConfigurationRoot)host.Services.GetRequiredService<IConfiguration>();
        var buffer = host.Services.GetRequiredService<SpansBuffer>();
        var flusher = host.Services.GetRequiredService<SpanFlusher>();
        var segments = await IngestAsync(buffer, 0, 1);

        Assert.Equal([segments[0].SegmentKey(prefix)], (await flusher.FlushOnceAsync(FlushTime, Ct)).Segments.Select(s => s.SegmentKey));

        configuration["SpanBuffer:AssignedShards:0"] = "1";
        configuration.Reload();
        Assert.Equal([1], buffer.AssignedShards);
        Assert.Equal([segments[1].SegmentKey(prefix)], (await flusher.FlushOnceAsync(FlushTime, Ct)).Segments.Select(s => s.SegmentKey));

        // A slice id moves ingest and flush to the sliced queues together.
        configuration["SpanBuffer:SliceId"] = "4";
        configuration.Reload();
        var sliced = TestSegment.Create(partition: 1);
        await buffer.ProcessSpansAsync(sliced.Spans, IngestTime, Ct);
        Assert.Equal(1, await Db.SortedSetLengthAsync($"{prefix}:q:4-1"));
        Assert.Equal([sliced.SegmentKey(prefix)], (await flusher.FlushOnceAsync(FlushTime, Ct)).Segments.Select(s => s.SegmentKey));
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task LogFlushedSegments_On_LogsEverySegmentOfTheFlush()
    {
        var prefix = NewKeyPrefix();
        var logs = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(new FakeLoggerProvider(logs)).SetMinimumLevel(LogLevel.Information));
        var options = new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [0, 1] };
        using var quiet = new SpansBuffer(Redis, options, loggerFactory);
        using var verbose = new SpansBuffer(Redis, new SpanBufferOptions(options) { LogFlushedSegments = true }, loggerFactory);
        var segments = await IngestAsync(quiet, 0, 1);

        await quiet.FlushSegmentsAsync(FlushTime, Ct);
        Assert.DoesNotContain(logs.GetSnapshot(), r => r.Id.Name == "SegmentFlushed");
        var flush = await verbose.FlushSegmentsAsync(FlushTime, Ct);

        var logged = logs.GetSnapshot().Where(r => r.Id.Name == "SegmentFlushed").ToList();
        Assert.Equal(2, logged.Count);
        Assert.All(logged, r => Assert.Equal(LogLevel.Information, r.Level));
        var first = logged.Single(r => r.Message.Contains(segments[0].SegmentKey(prefix), StringComparison.Ordinal));
        Assert.Equal($"Flushed segment {segments[0].SegmentKey(prefix)} from {QueueKey(prefix, 0)}: 3 spans, project 1", first.Message);
        Assert.Equal(2, flush.Segments.Count);
    }

    private async Task<List<TestSegment>> IngestAsync(SpansBuffer buffer, params int[] partitions)
    {
        var segments = partitions.Select(partition => TestSegment.Create(partition: partition)).ToList();
        await buffer.ProcessSpansAsync([.. segments.SelectMany(s => s.Spans)], IngestTime, Ct);
        return segments;
    }

    private static int ShardOf(FlushedSegment segment) => int.Parse(segment.QueueKey[(segment.QueueKey.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    private static string SpanIdOf(OutputSpan span) => span.SpanId;
}

public sealed class ShardAssignmentTestsOnStandalone(StandaloneRedisFixture fixture) : ShardAssignmentTests(fixture);

public sealed class ShardAssignmentTestsOnCluster(ClusterRedisFixture fixture) : ShardAssignmentTests(fixture);
