using System.Text;
using SpanBuffer.Flush;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;
using SpanBuffer.Redis;
using StackExchange.Redis;
using static SpanBuffer.IntegrationTests.Flush.IngestMessages;

namespace SpanBuffer.IntegrationTests.Flush;

/// <summary>The Redis steps of the flush, one at a time, against keys written by hand.</summary>
public abstract class FlushStoreStepTests(RedisFixture fixture) : FlushTestBase(fixture)
{
    [Fact]
    public void IsSingleServer_TellsTheTopology()
    {
        // Decides whether payloads may be sent without awaiting before their scripts, and whether cleanup removes
        // queue entries inside its script: both only hold on a single server.
        Assert.Equal(Fixture.Topology == RedisTopology.Standalone, CreateStore(NewKeyPrefix()).IsSingleServer);
    }

    [Fact]
    public async Task LoadFlushCandidatesAsync_DueEntries_OrdersByScoreThenMemberInclusiveOfNowPerShardInOrder()
    {
        var prefix = NewKeyPrefix();
        var store = CreateStore(prefix);
        var trace = NewTraceId();
        string Key(char root) => SegmentKey(prefix, 1, trace, Id(root));
        var queue0 = prefix + ":q:0";
        var queue1 = prefix + ":q:1";
        await Db.SortedSetAddAsync(queue0, [new(Key('c'), 5), new(Key('a'), 5), new(Key('b'), 3), new(Key('d'), Now), new(Key('e'), Now + 1)]);
        await Db.SortedSetAddAsync(queue1, [new(Key('f'), 1)]);
        QueueShard[] shards = [new(1, queue1), new(0, queue0), new(2, prefix + ":q:2")];

        var (candidates, corrupt, failed) = await store.LoadFlushCandidatesAsync(shards, Now, maxPerShard: 10);

        Assert.Equal(
            new FlushCandidate[]
            {
                new(1, queue1, Key('f'), 1),
                new(0, queue0, Key('b'), 3),
                new(0, queue0, Key('a'), 5),
                new(0, queue0, Key('c'), 5),
                new(0, queue0, Key('d'), Now),
            },
            candidates);
        Assert.Empty(corrupt);
        Assert.Empty(failed);

        var limited = (await store.LoadFlushCandidatesAsync(shards, Now, maxPerShard: 2)).Candidates;

        Assert.Equal([Key('f'), Key('b'), Key('a')], limited.Select(c => c.SegmentKey));
        Assert.Empty((await store.LoadFlushCandidatesAsync([], Now, maxPerShard: 10)).Candidates);
        await Db.KeyDeleteAsync(queue0);
        await Db.KeyDeleteAsync(queue1);
    }

    [Fact]
    public async Task AcquireFlushLocksAsync_SomeLocksHeld_KeepsTheWinnersInOrder()
    {
        var prefix = NewKeyPrefix();
        var store = CreateStore(prefix);
        var trace = NewTraceId();
        var queue = prefix + ":q:0";
        var candidates = "abcde".Select(c => new FlushCandidate(0, queue, SegmentKey(prefix, 1, trace, Id(c)), 1)).ToList();
        await Db.StringSetAsync($"{prefix}:fl:{candidates[1].SegmentKey}", "1", TimeSpan.FromSeconds(30));
        await Db.StringSetAsync($"{prefix}:fl:{candidates[3].SegmentKey}", "1", TimeSpan.FromSeconds(30));

        // The same key twice in one call (a segment in two queues of one buffer) wins once.
        var locked = await store.AcquireFlushLocksAsync([.. candidates, candidates[0] with { QueueKey = prefix + ":q:1" }], TimeSpan.FromSeconds(20), "token");

        Assert.Equal([candidates[0], candidates[2], candidates[4]], locked);
        foreach (var candidate in locked)
        {
            var lockKey = $"{prefix}:fl:{candidate.SegmentKey}";
            Assert.Equal("token", await Db.StringGetAsync(lockKey));
            Assert.InRange((await Db.KeyTimeToLiveAsync(lockKey))!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(20));

            // The lock shares the slot of the segment's other metadata, so cleanup can delete them together.
            Assert.Equal(Redis.HashSlot($"{prefix}:ssr:{{1:{trace}}}"), Redis.HashSlot(lockKey));
        }

        Assert.Empty(await store.AcquireFlushLocksAsync(locked, TimeSpan.FromSeconds(20), "another flush"));
        foreach (var key in await KeysAsync(prefix))
        {
            await Db.KeyDeleteAsync(key);
        }
    }

    [Fact]
    public async Task LoadSegmentsAsync_PayloadSetLargerThanPageSize_PagesThroughEveryMember()
    {
        var prefix = NewKeyPrefix();
        var store = CreateStore(prefix);
        var trace = NewTraceId();
        var pt = $"1:{trace}";
        var segmentKey = SegmentKey(prefix, 1, trace, Id('a'));
        var payloads = Enumerable.Range(0, 257).Select(i => Encoding.UTF8.GetBytes($"{{\"span_id\":\"{i:x16}\"}}")).ToArray();
        const string salt1 = "00000000000000000000000000000001";
        const string salt2 = "00000000000000000000000000000002";
        var payloadKey1 = $"{prefix}:s:{{{pt}:{salt1}}}:{salt1}";
        var payloadKey2 = $"{prefix}:s:{{{pt}:{salt2}}}:{salt2}";
        await Db.SetAddAsync(payloadKey1, payloads[..200].Select(p => (RedisValue)p).ToArray());
        await Db.SetAddAsync(payloadKey2, payloads[200..].Select(p => (RedisValue)p).ToArray());
        await Db.SetAddAsync($"{prefix}:mk:{{{pt}}}:{Id('a')}", [salt1, salt2]);
        await Db.StringSetAsync($"{prefix}:ic:{segmentKey}", 300);
        await Db.StringSetAsync($"{prefix}:ibc:{segmentKey}", 12345);
        var candidate = new FlushCandidate(0, prefix + ":q:0", segmentKey, Now);
        var stats = new FlushStats(TimeProvider.System);

        var loaded = Assert.Single(await store.LoadSegmentsAsync([candidate], pageSize: 7, stats));

        Assert.Equal(candidate, loaded.Candidate);
        Assert.Equal(
            payloads.Select(Convert.ToHexString).Order(StringComparer.Ordinal),
            loaded.Payloads.Select(p => Convert.ToHexString(p.Span)).Order(StringComparer.Ordinal));
        Assert.Equal(new[] { payloadKey1, payloadKey2 }, loaded.PayloadKeys.Order(StringComparer.Ordinal));
        Assert.Equal(new SegmentIngestMetadata(300, 12345), loaded.IngestMetadata);
        await Db.KeyDeleteAsync(payloadKey1);
        await Db.KeyDeleteAsync(payloadKey2);
        await Db.KeyDeleteAsync([$"{prefix}:mk:{{{pt}}}:{Id('a')}", $"{prefix}:ic:{segmentKey}", $"{prefix}:ibc:{segmentKey}"]);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task LoadSegmentsAsync_PayloadKeyListedByTwoSegments_FeedsOnlyTheLastButBothKeepIt()
    {
        var prefix = NewKeyPrefix();
        var store = CreateStore(prefix);
        var trace = NewTraceId();
        var pt = $"1:{trace}";
        var first = new FlushCandidate(0, prefix + ":q:0", SegmentKey(prefix, 1, trace, Id('a')), Now);
        var second = new FlushCandidate(0, prefix + ":q:0", SegmentKey(prefix, 1, trace, Id('b')), Now);
        var missing = new FlushCandidate(0, prefix + ":q:0", SegmentKey(prefix, 1, trace, Id('c')), Now);
        const string shared = "0000000000000000000000000000000a";
        const string own = "0000000000000000000000000000000b";
        var sharedKey = $"{prefix}:s:{{{pt}:{shared}}}:{shared}";
        var ownKey = $"{prefix}:s:{{{pt}:{own}}}:{own}";
        await Db.SetAddAsync(sharedKey, "{\"span_id\":\"shared\"}");
        await Db.SetAddAsync(ownKey, "{\"span_id\":\"own\"}");
        await Db.SetAddAsync($"{prefix}:mk:{{{pt}}}:{Id('a')}", [shared, own]);
        await Db.SetAddAsync($"{prefix}:mk:{{{pt}}}:{Id('b')}", shared);

        var loaded = await store.LoadSegmentsAsync([first, second, missing], pageSize: 100, new FlushStats(TimeProvider.System));

        Assert.Equal([first, second, missing], loaded.Select(l => l.Candidate));
        Assert.Equal(["{\"span_id\":\"own\"}"], loaded[0].Payloads.Select(p => Encoding.UTF8.GetString(p.Span)));
        Assert.Equal(["{\"span_id\":\"shared\"}"], loaded[1].Payloads.Select(p => Encoding.UTF8.GetString(p.Span)));
        Assert.Equal(new[] { sharedKey, ownKey }.Order(StringComparer.Ordinal), loaded[0].PayloadKeys.Order(StringComparer.Ordinal));
        Assert.Equal([sharedKey], loaded[1].PayloadKeys);
        Assert.Empty(loaded[2].Payloads);
        Assert.Empty(loaded[2].PayloadKeys);
        Assert.Equal(default(SegmentIngestMetadata), loaded[2].IngestMetadata);

        var flushed = loaded.Select(l => new FlushedSegment(l.Candidate, 1, [], l.PayloadKeys)).ToList();
        await store.CleanupFlushedSegmentsAsync(flushed, TimeSpan.FromSeconds(10));
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task GetQueueDeadlinesAsync_QueuedAndRemovedCandidates_ReturnsScoreOrNull()
    {
        var prefix = NewKeyPrefix();
        var store = CreateStore(prefix);
        var trace = NewTraceId();
        var queue = prefix + ":q:0";
        var queued = new FlushCandidate(0, queue, SegmentKey(prefix, 1, trace, Id('a')), Now);
        var removed = new FlushCandidate(0, queue, SegmentKey(prefix, 1, trace, Id('b')), Now);
        await Db.SortedSetAddAsync(queue, queued.SegmentKey, Now + 7);

        var deadlines = await store.GetQueueDeadlinesAsync([queued, removed]);

        Assert.Equal([(queued, (long?)(Now + 7)), (removed, null)], deadlines);
        await Db.KeyDeleteAsync(queue);
    }
}

public sealed class FlushStoreStepTestsOnStandalone(StandaloneRedisFixture fixture) : FlushStoreStepTests(fixture);

public sealed class FlushStoreStepTestsOnCluster(ClusterRedisFixture fixture) : FlushStoreStepTests(fixture);
