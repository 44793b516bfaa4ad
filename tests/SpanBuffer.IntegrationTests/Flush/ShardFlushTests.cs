using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using StackExchange.Redis;
using SpanBuffer.Ingest;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;
using static SpanBuffer.IntegrationTests.Flush.IngestMessages;

namespace SpanBuffer.IntegrationTests.Flush;

/// <summary>Shards, slices, flush locks between buffers, segments in two queues, and the per-shard flush limit.</summary>
public abstract class ShardFlushTests(RedisFixture fixture) : FlushTestBase(fixture)
{
    [Fact]
    public async Task Flush_SliceAndFourShards_FlushesOnlyTheAssignedShardsFromSlicedQueues()
    {
        var prefix = NewKeyPrefix();
        using var all = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [0, 1, 2, 3], SliceId = 7 });
        var traces = Enumerable.Range(0, 4).Select(_ => NewTraceId()).ToArray();
        var spans = new List<Span>();
        for (var partition = 0; partition < 4; partition++)
        {
            spans.Add(Create(traces[partition], Id('b'), Id('a'), partition: partition));
            spans.Add(Create(traces[partition], Id('a'), null, partition: partition));
        }

        await all.ProcessSpansAsync(spans, Now, TestContext.Current.CancellationToken);

        var queues = (await KeysAsync(prefix)).Where(k => k.StartsWith(prefix + ":q:", StringComparison.Ordinal));
        Assert.Equal(Enumerable.Range(0, 4).Select(shard => $"{prefix}:q:7-{shard}"), queues);

        using var unsliced = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [0, 1, 2, 3] });
        Assert.Empty((await unsliced.FlushSegmentsAsync(Now + 10, TestContext.Current.CancellationToken)).Segments);

        using var shard1 = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [1], SliceId = 7 });
        Assert.Empty((await shard1.FlushSegmentsAsync(Now + 9, TestContext.Current.CancellationToken)).Segments);
        var one = await FlushAndDoneAsync(shard1, Now + 10);

        var segment = Assert.Single(one.Segments);
        Assert.Equal(new FlushCandidate(1, $"{prefix}:q:7-1", SegmentKey(prefix, 1, traces[1], Id('a')), Now + 10), segment.Candidate);
        AssertSegment(segment, spans.Where(s => s.TraceId == traces[1]).ToList(), Id('a'), rootSpanId: Id('a'));
        Assert.Empty((await shard1.FlushSegmentsAsync(Now + 10, TestContext.Current.CancellationToken)).Segments);

        var rest = await FlushAndDoneAsync(all, Now + 10);

        Assert.Equal([0, 2, 3], rest.Segments.Select(s => s.Candidate.Shard));
        foreach (var flushed in rest.Segments)
        {
            var shard = flushed.Candidate.Shard;
            Assert.Equal($"{prefix}:q:7-{shard}", flushed.QueueKey);
            Assert.Equal(SegmentKey(prefix, 1, traces[shard], Id('a')), flushed.SegmentKey);
            AssertSegment(flushed, spans.Where(s => s.TraceId == traces[shard]).ToList(), Id('a'), rootSpanId: Id('a'));
        }

        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_SecondBufferWhileLocksHeld_SeesLockContentionAndReturnsNothing()
    {
        var prefix = NewKeyPrefix();
        var options = new SpanBufferOptions { KeyPrefix = prefix, FlushLockTtl = TimeSpan.FromSeconds(30) };
        using var first = CreateBuffer(options);
        using var second = CreateBuffer(options);
        var traces = Enumerable.Range(0, 3).Select(_ => NewTraceId()).ToArray();
        await first.ProcessSpansAsync(traces.Select(t => Create(t, Id('a'), null)).ToList(), Now, TestContext.Current.CancellationToken);

        var winner = await first.FlushSegmentsAsync(Now + 10, TestContext.Current.CancellationToken);
        var loser = await second.FlushSegmentsAsync(Now + 10, TestContext.Current.CancellationToken);

        Assert.Equal(3, winner.Segments.Count);
        Assert.All(winner.Segments, s => Assert.Single(s.Spans));
        Assert.Equal(3, winner.Stats.LocksAcquired);
        Assert.Equal(0, winner.Stats.LockContention);
        Assert.Empty(loser.Segments);
        Assert.Equal(3, loser.Stats.Candidates);
        Assert.Equal(0, loser.Stats.LocksAcquired);
        Assert.Equal(3, loser.Stats.LockContention);
        foreach (var segment in winner.Segments)
        {
            var ttl = await Db.KeyTimeToLiveAsync($"{prefix}:fl:{segment.SegmentKey}");
            Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        }

        await first.DoneFlushSegmentsAsync(winner.Segments, TestContext.Current.CancellationToken);
        await AssertNoKeysLeftAsync(prefix);
        Assert.Empty((await second.FlushSegmentsAsync(Now + 10, TestContext.Current.CancellationToken)).Segments);
    }

    [Fact]
    public async Task Flush_TwoBuffersConcurrentlyWithFlushLocks_ReturnEachSegmentExactlyOnce()
    {
        var prefix = NewKeyPrefix();
        var options = new SpanBufferOptions { KeyPrefix = prefix, FlushLockTtl = TimeSpan.FromSeconds(30) };
        using var first = CreateBuffer(options);
        using var second = CreateBuffer(options);
        var traces = Enumerable.Range(0, 40).Select(_ => NewTraceId()).ToArray();
        await first.ProcessSpansAsync(
            traces.SelectMany(t => new[] { Create(t, Id('a'), null), Create(t, Id('b'), Id('a')) }).ToList(),
            Now,
            TestContext.Current.CancellationToken);

        var results = await Task.WhenAll(
            Task.Run(() => first.FlushSegmentsAsync(Now + 10, TestContext.Current.CancellationToken), TestContext.Current.CancellationToken),
            Task.Run(() => second.FlushSegmentsAsync(Now + 10, TestContext.Current.CancellationToken), TestContext.Current.CancellationToken));

        var returned = results.SelectMany(r => r.Segments).ToList();
        Assert.All(returned, s => Assert.Equal(2, s.Spans.Count));
        Assert.Equal(
            traces.Select(t => SegmentKey(prefix, 1, t, Id('a'))).Order(StringComparer.Ordinal),
            returned.Select(s => s.SegmentKey).Order(StringComparer.Ordinal));
        Assert.Equal(40, results.Sum(r => r.Stats.LocksAcquired));
        Assert.Equal(40, results.Sum(r => r.Stats.LockContention));
        Assert.All(results, r => Assert.Equal(40, r.Stats.Candidates));

        await first.DoneFlushSegmentsAsync(results[0].Segments, TestContext.Current.CancellationToken);
        await second.DoneFlushSegmentsAsync(results[1].Segments, TestContext.Current.CancellationToken);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_SpansArrivingWhileTheLockIsHeld_GoToADetachedSegmentFlushedOnceLater()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, FlushLockTtl = TimeSpan.FromSeconds(30) });
        var trace = NewTraceId();
        var root = Create(trace, Id('a'), null);
        var child = Create(trace, Id('b'), Id('a'));
        var late = Create(trace, Id('c'), Id('a'));
        await buffer.ProcessSpansAsync([root, child], Now, TestContext.Current.CancellationToken);

        var first = await buffer.FlushSegmentsAsync(Now + 10, TestContext.Current.CancellationToken);
        await buffer.ProcessSpansAsync([late], Now + 11, TestContext.Current.CancellationToken);
        await buffer.DoneFlushSegmentsAsync(first.Segments, TestContext.Current.CancellationToken);

        AssertSegment(Assert.Single(first.Segments), [root, child], Id('a'), rootSpanId: Id('a'));
        var salt = SaltHasher.Compute(late.SpanId);
        Assert.Empty((await buffer.FlushSegmentsAsync(Now + 20, TestContext.Current.CancellationToken)).Segments);
        var second = await FlushAndDoneAsync(buffer, Now + 21);
        var detached = Assert.Single(second.Segments);
        Assert.Equal(SegmentKey(prefix, 1, trace, salt), detached.SegmentKey);
        AssertSegment(detached, [late], salt, rootSpanId: null);
        Assert.Empty(second.Losses);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_LockExpiredBeforeCleanupAndNewSpansMerged_DeliversThemLaterAndNothingTwice()
    {
        // The reference's test_no_duplicate_flush_after_lock_expiry_and_new_spans, where the unconditional cleanup
        // deletes the late span (reference §8.2); here cleanup removes only what was flushed.
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, FlushLockTtl = TimeSpan.FromSeconds(30) });
        var trace = NewTraceId();
        var root = Create(trace, Id('a'), null);
        var late = Create(trace, Id('c'), Id('a'));
        await buffer.ProcessSpansAsync([root], Now, TestContext.Current.CancellationToken);

        var first = await buffer.FlushSegmentsAsync(Now + 10, TestContext.Current.CancellationToken);
        var segmentKey = Assert.Single(first.Segments).SegmentKey;
        Assert.True(await Db.KeyDeleteAsync($"{prefix}:fl:{segmentKey}")); // the lock expires
        await buffer.ProcessSpansAsync([late], Now + 11, TestContext.Current.CancellationToken);
        var cleanup = await buffer.DoneFlushSegmentsAsync(first.Segments, TestContext.Current.CancellationToken);

        Assert.Equal(1, cleanup.Requeued);
        Assert.Empty(cleanup.Losses);
        var later = await FlushAndDoneAsync(buffer, Now + 3600);

        AssertSegment(Assert.Single(later.Segments), [late], Id('a'), rootSpanId: null);
        Assert.Empty(later.Losses);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_OneShardQueueOfTheWrongType_FlushesTheOtherShardsAndCountsTheFailure()
    {
        var prefix = NewKeyPrefix();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        using var failures = new MetricCollector<long>(meterFactory, "SpanBuffer", "spanbuffer.flush.shard_failures");
        using var buffer = new SpansBuffer(Redis, new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [0, 1, 2] }, meterFactory: meterFactory);
        var spans = new[] { 0, 2 }.Select(partition => Create(NewTraceId(), Id('a'), null, partition: partition)).ToArray();
        await buffer.ProcessSpansAsync(spans, Now, TestContext.Current.CancellationToken);
        await Db.HashSetAsync($"{prefix}:q:1", "not", "a sorted set");

        var result = await FlushAndDoneAsync(buffer, Now + 100);

        Assert.Equal(2, result.Segments.Count);
        Assert.Equal(1, result.Stats.FailedShards);
        var failure = Assert.Single(failures.GetMeasurementSnapshot());
        Assert.Equal(1, failure.Tags["shard"]);
        Assert.Equal(typeof(RedisServerException).FullName, failure.Tags["error.type"]);

        // Every shard broken: nothing flushed, so the flush itself fails.
        await Db.HashSetAsync($"{prefix}:q:0", "not", "a sorted set");
        await Db.HashSetAsync($"{prefix}:q:2", "not", "a sorted set");
        await Assert.ThrowsAsync<RedisServerException>(() => buffer.FlushSegmentsAsync(Now + 200, TestContext.Current.CancellationToken));
        foreach (var key in await KeysAsync(prefix))
        {
            await Db.KeyDeleteAsync(key);
        }
    }

    [Fact]
    public async Task Flush_SegmentInTwoQueuesOfOneBuffer_FlushesSpansOnceAndCleansTheStaleEntry()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [0, 1] });
        var trace = NewTraceId();
        var root = Create(trace, Id('a'), null, partition: 0);
        var child = Create(trace, Id('b'), Id('a'), partition: 0);
        var late = Create(trace, Id('c'), Id('a'), partition: 1);
        var segmentKey = SegmentKey(prefix, 1, trace, Id('a'));
        await buffer.ProcessSpansAsync([root, child], Now, TestContext.Current.CancellationToken);
        await buffer.ProcessSpansAsync([late], Now, TestContext.Current.CancellationToken);
        Assert.Equal(Now + 10, await Db.SortedSetScoreAsync(prefix + ":q:0", segmentKey));
        Assert.Equal(Now + 10, await Db.SortedSetScoreAsync(prefix + ":q:1", segmentKey));

        var result = await FlushAndDoneAsync(buffer, Now + 10);

        // Loaded from both queues; the last entry wins and its spans are returned once.
        Assert.Equal(2, result.Stats.Candidates);
        var segment = Assert.Single(result.Segments);
        Assert.Equal(prefix + ":q:1", segment.QueueKey);
        AssertSegment(segment, [root, child, late], Id('a'), rootSpanId: Id('a'));
        Assert.Equal(3, result.Stats.SpansFlushed);
        Assert.Empty(result.Losses);
        Assert.Equal(0, result.Stats.DroppedSpans);
        Assert.Null(await Db.SortedSetScoreAsync(prefix + ":q:1", segmentKey));
        Assert.Equal(Now + 10, await Db.SortedSetScoreAsync(prefix + ":q:0", segmentKey));

        var stale = await FlushAndDoneAsync(buffer, Now + 10);

        var empty = Assert.Single(stale.Segments);
        Assert.Equal(segmentKey, empty.SegmentKey);
        Assert.Equal(prefix + ":q:0", empty.QueueKey);
        Assert.Empty(empty.Spans);
        Assert.Empty(empty.ToMessages(long.MaxValue));
        Assert.Equal(1, stale.Stats.EmptySegments);
        Assert.Empty(stale.Losses);
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task Flush_SegmentInTwoQueuesOfTwoBuffersWithLocks_FlushesSpansOnceAndCleansTheStaleEntry()
    {
        var prefix = NewKeyPrefix();
        using var shard0 = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [0], FlushLockTtl = TimeSpan.FromSeconds(30) });
        using var shard1 = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, AssignedShards = [1], FlushLockTtl = TimeSpan.FromSeconds(30) });
        var trace = NewTraceId();
        var root = Create(trace, Id('a'), null, partition: 0);
        var late = Create(trace, Id('b'), Id('a'), partition: 1);
        await shard0.ProcessSpansAsync([root], Now, TestContext.Current.CancellationToken);
        await shard1.ProcessSpansAsync([late], Now, TestContext.Current.CancellationToken);

        var flushed = await shard0.FlushSegmentsAsync(Now + 10, TestContext.Current.CancellationToken);
        var contended = await shard1.FlushSegmentsAsync(Now + 10, TestContext.Current.CancellationToken);

        AssertSegment(Assert.Single(flushed.Segments), [root, late], Id('a'), rootSpanId: Id('a'));
        Assert.Empty(contended.Segments);
        Assert.Equal(1, contended.Stats.LockContention);

        // Cleanup releases the lock, so the other buffer takes its stale entry now rather than after the lock TTL.
        await shard0.DoneFlushSegmentsAsync(flushed.Segments, TestContext.Current.CancellationToken);
        var stale = await FlushAndDoneAsync(shard1, Now + 10);

        var empty = Assert.Single(stale.Segments);
        Assert.Equal(prefix + ":q:1", empty.QueueKey);
        Assert.Empty(empty.Spans);
        Assert.Empty(stale.Losses);
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task Flush_MoreDueSegmentsThanMaxFlushSegments_TakesTheOldestInCyclesOfTheLimit()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, MaxFlushSegments = 2 });
        var traces = Enumerable.Range(0, 5).Select(_ => NewTraceId()).ToArray();
        for (var i = traces.Length - 1; i >= 0; i--)
        {
            await buffer.ProcessSpansAsync([Create(traces[i], Id('a'), null)], Now + i, TestContext.Current.CancellationToken);
        }

        var cycles = new List<FlushResult>();
        for (var cycle = 0; cycle < 4; cycle++)
        {
            cycles.Add(await FlushAndDoneAsync(buffer, Now + 20));
        }

        Assert.Equal([2, 2, 1, 0], cycles.Select(c => c.Segments.Count));
        Assert.Equal(
            traces.Select(t => SegmentKey(prefix, 1, t, Id('a'))),
            cycles.SelectMany(c => c.Segments).Select(s => s.SegmentKey));
        Assert.Equal(
            Enumerable.Range(0, 5).Select(i => Now + i + 10),
            cycles.SelectMany(c => c.Segments).Select(s => s.Candidate.Score));

        // The reference's literal rule compares one segment's span count with the per-shard cap: 1 < 2.
        Assert.All(cycles, c => Assert.False(c.AnyShardAtLimit));
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_SegmentWithAsManySpansAsThePerShardCap_SetsAnyShardAtLimit()
    {
        var prefix = NewKeyPrefix();
        using var capOne = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, MaxFlushSegments = 1 });
        var trace = NewTraceId();
        await capOne.ProcessSpansAsync([Create(trace, Id('a'), null)], Now, TestContext.Current.CancellationToken);

        var atLimit = await FlushAndDoneAsync(capOne, Now + 10);

        Assert.Single(Assert.Single(atLimit.Segments).Spans);
        Assert.True(atLimit.AnyShardAtLimit);
        Assert.True(atLimit.Stats.AnyShardAtLimit);

        // Two shards share a cap of 3: ceil(3 / 2) = 2 per shard. A 2-span segment reaches it, 1-span ones do not.
        using var twoShards = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, MaxFlushSegments = 3, AssignedShards = [0, 1] });
        var small = Enumerable.Range(0, 6).Select(_ => NewTraceId()).ToArray();
        await twoShards.ProcessSpansAsync(
            small.Select((t, i) => Create(t, Id('a'), null, partition: i % 2)).ToList(), Now, TestContext.Current.CancellationToken);

        var perShard = await FlushAndDoneAsync(twoShards, Now + 10);

        Assert.Equal([0, 0, 1, 1], perShard.Segments.Select(s => s.Candidate.Shard));
        Assert.False(perShard.AnyShardAtLimit);

        var pair = NewTraceId();
        await twoShards.ProcessSpansAsync([Create(pair, Id('a'), null), Create(pair, Id('b'), Id('a'))], Now + 100, TestContext.Current.CancellationToken);
        var remaining = await FlushAndDoneAsync(twoShards, Now + 200);

        Assert.Equal(3, remaining.Segments.Count);
        Assert.True(remaining.AnyShardAtLimit);
        await AssertNoKeysLeftAsync(prefix);
    }
}

public sealed class ShardFlushTestsOnStandalone(StandaloneRedisFixture fixture) : ShardFlushTests(fixture);

public sealed class ShardFlushTestsOnCluster(ClusterRedisFixture fixture) : ShardFlushTests(fixture);
