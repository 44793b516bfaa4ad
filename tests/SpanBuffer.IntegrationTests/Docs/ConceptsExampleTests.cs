// Each test here mirrors one "**Example ...**" of docs/concepts.md, with the doc's spans, `now` values, options, queue
// scores, segment keys, salts, flushed spans and losses; the doc's `span-buf` prefix is the test's own key prefix.
// When an example in the doc changes, the test must change with it (and the other way round).
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.IntegrationTests.Ingest;
using SpanBuffer.Ingest;
using SpanBuffer.Models;
using static SpanBuffer.IntegrationTests.Docs.ConceptsExampleSpans;

namespace SpanBuffer.IntegrationTests.Docs;

/// <summary>The worked examples of docs/concepts.md, run as the doc states them.</summary>
public abstract class ConceptsExampleTests(RedisFixture fixture) : IngestTestBase(fixture)
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Redirects_ChainOverThreeBatches_MergesIntoTheHighestAncestor()
    {
        using var scope = NewScope();
        var p = scope.Prefix;

        await scope.IngestAsync(1000, Child('c', 'b'));
        Assert.Equal(Map((SegmentKey(p, Id('b')), 1060L)), await scope.QueueAsync());

        await scope.IngestAsync(1010, Child('b', 'a'));
        Assert.Equal(Map((SegmentKey(p, Id('a')), 1070L)), await scope.QueueAsync());

        await scope.IngestAsync(1020, Child('d', 'c'));
        Assert.Equal(Map((SegmentKey(p, Id('a')), 1080L)), await scope.QueueAsync());

        // The segment waits the full Timeout after its last span.
        Assert.Empty((await scope.Buffer.FlushSegmentsAsync(1079, Cancel)).Segments);
        var flush = await scope.Buffer.FlushSegmentsAsync(1080, Cancel);

        var segment = Assert.Single(flush.Segments);
        Assert.Equal(SegmentKey(p, Id('a')), segment.SegmentKey);
        Assert.Equal(Sorted(Id('b'), Id('c'), Id('d')), Sorted(SpanIds(segment)));
        Assert.All(segment.Spans, span => Assert.False(IsSegment(span)));
        Assert.All(segment.Spans, span => Assert.Equal(Id('a'), SegmentId(span)));
        Assert.Empty(flush.Losses);
    }

    [Fact]
    public async Task Deadlines_RootAndChildInOneBatch_FlushAtTheRootTimeoutAndLeaveNoKey()
    {
        using var scope = NewScope();
        var p = scope.Prefix;

        await scope.IngestAsync(1000, Root('a'), Child('b', 'a'));
        Assert.Equal(Map((SegmentKey(p, Id('a')), 1010L)), await scope.QueueAsync());

        Assert.Empty((await scope.Buffer.FlushSegmentsAsync(1009, Cancel)).Segments);
        var flush = await scope.Buffer.FlushSegmentsAsync(1010, Cancel);

        var segment = Assert.Single(flush.Segments);
        Assert.Equal(SegmentKey(p, Id('a')), segment.SegmentKey);
        Assert.Equal(Sorted(Id('a'), Id('b')), Sorted(SpanIds(segment)));
        Assert.True(IsSegment(Assert.Single(segment.Spans, s => s.SpanId == Id('a'))));
        Assert.False(IsSegment(Assert.Single(segment.Spans, s => s.SpanId == Id('b'))));
        Assert.Empty(flush.Losses);

        var cleanup = await scope.Buffer.DoneFlushSegmentsAsync(flush, Cancel);
        Assert.Equal(1, cleanup.Segments);
        Assert.Empty(await scope.AllKeysAsync());
    }

    [Fact]
    public async Task Deadlines_RootArrivesLate_MovesTheDeadlineEarlierAndKeepsTheRootTimeout()
    {
        using var scope = NewScope();

        await RootArrivesLateAsync(scope);
    }

    [Fact]
    public async Task WhenFlushed_LateSpanAfterTheCleanup_StartsASecondRootlessSegment()
    {
        using var scope = NewScope();
        var p = scope.Prefix;

        // Continues "the root arrives late": flushed at 1045 and cleaned, which deletes the redirects of c, a and d.
        var flush = await RootArrivesLateAsync(scope);
        await scope.Buffer.DoneFlushSegmentsAsync(flush, Cancel);
        Assert.Empty(await scope.QueueAsync());
        Assert.Empty(await scope.RedirectsAsync($"{Project}:{Trace}"));

        await scope.IngestAsync(1050, Child('e', 'd'));
        Assert.Equal(Map((SegmentKey(p, Id('d')), 1110L)), await scope.QueueAsync());

        var late = await scope.Buffer.FlushSegmentsAsync(1110, Cancel);
        var segment = Assert.Single(late.Segments);
        Assert.Equal(SegmentKey(p, Id('d')), segment.SegmentKey);
        var span = Assert.Single(segment.Spans);
        Assert.Equal(Id('e'), span.SpanId);
        Assert.Equal("d000000000000004", SegmentId(span));
        Assert.False(IsSegment(span));
        Assert.Empty(late.Losses);
    }

    [Fact]
    public async Task Detach_OnMaxSegmentBytes_QueuesTheChunkUnderItsSaltAndLaterDescendantsRejoin()
    {
        using var scope = NewScope(options => options.MaxSegmentBytes = 1000);
        var p = scope.Prefix;
        var root = SegmentKey(p, Id('a'));
        const string Salt = "fbad6a151afad17db01085cb33a3807d";
        var detached = SegmentKey(p, Salt);

        await scope.IngestAsync(1000, Root('a', bytes: 298), Child('b', 'a', bytes: 316));
        Assert.Equal(614, await scope.GetNumberAsync($"{p}:ibc:{root}"));
        Assert.Equal(Map((root, 1010L)), await scope.QueueAsync());

        // 614 + 632 = 1246 > 1000: c and d become a segment of their own, keyed by their salt.
        Assert.Equal(Salt, SaltHasher.Compute("c000000000000003", "d000000000000004"));
        await scope.IngestAsync(1005, Child('c', 'a', bytes: 316), Child('d', 'a', bytes: 316));
        Assert.Equal(614, await scope.GetNumberAsync($"{p}:ibc:{root}"));
        Assert.Equal(Map((root, 1010L), (detached, 1015L)), await scope.QueueAsync());

        // c still redirects to a: 614 + 266 = 880 fits.
        await scope.IngestAsync(1006, Child('e', 'c', bytes: 266));
        Assert.Equal(880, await scope.GetNumberAsync($"{p}:ibc:{root}"));
        Assert.Equal(Map((detached, 1015L), (root, 1016L)), await scope.QueueAsync());

        var flush = await scope.Buffer.FlushSegmentsAsync(1020, Cancel);

        Assert.Equal([detached, root], flush.Segments.Select(s => s.SegmentKey));
        var salted = flush.Segments[0];
        Assert.Equal(Sorted(Id('c'), Id('d')), Sorted(SpanIds(salted)));
        Assert.All(salted.Spans, span => Assert.False(IsSegment(span)));
        Assert.All(salted.Spans, span => Assert.Equal(Salt, SegmentId(span)));
        var rooted = flush.Segments[1];
        Assert.Equal(Sorted(Id('a'), Id('b'), Id('e')), Sorted(SpanIds(rooted)));
        Assert.All(rooted.Spans, span => Assert.Equal(span.SpanId == Id('a'), IsSegment(span)));
        Assert.All(rooted.Spans, span => Assert.Equal(Id('a'), SegmentId(span)));
        Assert.Empty(flush.Losses);
    }

    [Fact]
    public async Task FlushLocks_SpanArrivesDuringTheFlushWithLocks_IsDetachedAndDeliveredOnceUnderItsSalt()
    {
        using var scope = NewScope(options => options.FlushLockTtl = TimeSpan.FromSeconds(30));
        var p = scope.Prefix;
        var root = SegmentKey(p, Id('a'));
        const string Salt = "05852d6d798cee4222804317e8ac64e5";
        var detached = SegmentKey(p, Salt);
        Assert.Equal(Salt, SaltHasher.Compute("c000000000000003"));

        var flush = await FlushRootAndChildAsync(scope);

        await scope.IngestAsync(1011, Child('c', 'a'));
        Assert.Equal(Map((root, 1010L), (detached, 1021L)), await scope.QueueAsync());

        var cleanup = await scope.Buffer.DoneFlushSegmentsAsync(flush, Cancel);
        Assert.Equal(0, cleanup.Requeued);
        Assert.Equal(Map((detached, 1021L)), await scope.QueueAsync());

        var later = await scope.Buffer.FlushSegmentsAsync(1021, Cancel);
        var segment = Assert.Single(later.Segments);
        Assert.Equal(detached, segment.SegmentKey);
        var span = Assert.Single(segment.Spans);
        Assert.Equal(Id('c'), span.SpanId);
        Assert.Equal(Salt, SegmentId(span));
        Assert.False(IsSegment(span));
    }

    [Fact]
    public async Task FlushLocks_SpanArrivesDuringTheFlushWithoutLocks_IsMergedRequeuedAndDeliveredOnce()
    {
        using var scope = NewScope(options => options.FlushLockTtl = TimeSpan.Zero);
        var p = scope.Prefix;
        var root = SegmentKey(p, Id('a'));

        var flush = await FlushRootAndChildAsync(scope);

        await scope.IngestAsync(1011, Child('c', 'a'));
        Assert.Equal(Map((root, 1021L)), await scope.QueueAsync());

        var cleanup = await scope.Buffer.DoneFlushSegmentsAsync(flush, Cancel);
        Assert.Equal(1, cleanup.Requeued);
        Assert.Equal(Map((root, 1021L)), await scope.QueueAsync());

        var later = await scope.Buffer.FlushSegmentsAsync(1021, Cancel);
        var segment = Assert.Single(later.Segments);
        Assert.Equal(root, segment.SegmentKey);
        var span = Assert.Single(segment.Spans);
        Assert.Equal(Id('c'), span.SpanId);
        Assert.Equal(Id('a'), SegmentId(span));
        Assert.False(IsSegment(span));
    }

    [Fact]
    public async Task Dropped_SegmentOpenLongerThanTheTtl_LosesTheSpansOfItsExpiredPayloadSet()
    {
        using var scope = NewScope();
        var p = scope.Prefix;
        var segmentKey = SegmentKey(p, Id('a'));

        // A rootless segment under a, a chunk every 30 s from 1000 to 4990; the chunk at 1000 holds b and c.
        await scope.IngestAsync(1000, Child('b', 'a'), Child('c', 'a'));
        var oldest = PayloadKey(p, SaltHasher.Compute(Id('b'), Id('c')));
        Assert.True(await scope.Db.KeyExistsAsync(oldest));

        // Its TTL is set once, at write: stand in for "written an hour ago" with a shorter TTL, which later calls keep.
        Assert.True(await scope.Db.KeyExpireAsync(oldest, TimeSpan.FromSeconds(600)));
        var later = new List<string>();
        for (var now = 1030L; now <= 4990; now += 30)
        {
            var spanId = "f" + now.ToString("x15", System.Globalization.CultureInfo.InvariantCulture);
            later.Add(spanId);
            await scope.IngestAsync(now, Child(spanId, 'a'));
        }

        Assert.InRange((await scope.Db.KeyTimeToLiveAsync(oldest))!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(600));
        // Each call refreshed the segment's index, counters and redirects (the full RedisTtl), not the payload set.
        var pt = $"{Project}:{Trace}";
        foreach (var key in new[] { scope.MemberKeysKey(Id('a'), pt), scope.IngestedCountKey(Id('a'), pt), scope.RedirectKey(pt) })
        {
            Assert.InRange((await scope.Db.KeyTimeToLiveAsync(key))!.Value, TimeSpan.FromSeconds(3000), TimeSpan.FromSeconds(3600));
        }

        Assert.Equal(135, await scope.GetNumberAsync(scope.IngestedCountKey(Id('a'), pt)));
        Assert.Equal(Map((segmentKey, 5050L)), await scope.QueueAsync());

        // At 4600 the oldest payload set expires; delete it rather than wait.
        await scope.Db.KeyDeleteAsync(oldest);

        var flush = await scope.Buffer.FlushSegmentsAsync(5060, Cancel);
        var segment = Assert.Single(flush.Segments);
        Assert.Equal(segmentKey, segment.SegmentKey);
        Assert.Equal(Sorted(later), Sorted(SpanIds(segment)));
        Assert.Equal([new SegmentLoss(Project, 2, SegmentLossReason.Dropped)], flush.Losses);
        Assert.Equal(2, flush.Stats.DroppedSpans);

        var cleanup = await scope.Buffer.DoneFlushSegmentsAsync(flush, Cancel);
        Assert.Equal([new SegmentLoss(Project, 2, SegmentLossReason.Dropped)], cleanup.Losses);
    }

    [Fact]
    public async Task Dropped_ScaledDownRun_DeliversOneSpanAndDropsTwo()
    {
        using var scope = NewScope(options =>
        {
            options.RedisTtl = TimeSpan.FromSeconds(3);
            options.Timeout = TimeSpan.FromSeconds(2);
            options.RootTimeout = TimeSpan.FromSeconds(1);
        });
        var p = scope.Prefix;

        // Two spans stored at t = 0, one more at t = 2 s; the first payload set expires at t = 3 s (deleted here
        // rather than waited for), and the flush at t = 4 s is past the deadline 2 + Timeout.
        await scope.IngestAsync(0, Child('b', 'a'), Child('c', 'a'));
        await scope.IngestAsync(2, Child('d', 'a'));
        Assert.Equal(Map((SegmentKey(p, Id('a')), 4L)), await scope.QueueAsync());
        Assert.Equal(1, await scope.Db.KeyDeleteAsync([PayloadKey(p, SaltHasher.Compute(Id('b'), Id('c')))]));

        var flush = await scope.Buffer.FlushSegmentsAsync(4, Cancel);

        var segment = Assert.Single(flush.Segments);
        Assert.Equal([Id('d')], SpanIds(segment));
        Assert.Equal([new SegmentLoss(Project, 2, SegmentLossReason.Dropped)], flush.Losses);
        var cleanup = await scope.Buffer.DoneFlushSegmentsAsync(flush, Cancel);
        Assert.Equal([new SegmentLoss(Project, 2, SegmentLossReason.Dropped)], cleanup.Losses);
    }

    [Fact]
    public async Task ExpiredBeforeFlush_EmptyEntryOlderThanTheTtl_CountsOneSegmentButNotAtTheBoundary()
    {
        using var scope = NewScope();
        var p = scope.Prefix;
        var queue = QueueKey(p);
        var segmentKey = SegmentKey(p, Id('a'));

        await scope.IngestAsync(1000, Child('b', 'a'));
        Assert.Equal(Map((segmentKey, 1060L)), await scope.QueueAsync());

        // No flusher for an hour: every key but the queue expires about RedisTtl after the last ingest.
        var keys = await scope.AllKeysAsync();
        Assert.Contains(queue, keys);
        foreach (var key in keys.Where(key => key != queue))
        {
            Assert.True(await scope.Db.KeyDeleteAsync(key));
        }

        // 4650 - 1060 + 10 = 3600, not above the TTL: an empty entry, no loss.
        var early = await scope.Buffer.FlushSegmentsAsync(4650, Cancel);
        Assert.Empty(Assert.Single(early.Segments).Spans);
        Assert.Empty(early.Losses);
        Assert.Equal(0, early.Stats.ExpiredSegments);
        Assert.Equal(1, early.Stats.EmptySegments);

        // 4700 - 1060 + 10 = 3650 > 3600: one expired segment.
        var flush = await scope.Buffer.FlushSegmentsAsync(4700, Cancel);
        Assert.Equal(segmentKey, Assert.Single(flush.Segments).SegmentKey);
        Assert.Empty(flush.Segments[0].Spans);
        Assert.Equal([new SegmentLoss(Project, 1, SegmentLossReason.ExpiredBeforeFlush)], flush.Losses);
        Assert.Equal(1, flush.Stats.ExpiredSegments);

        var cleanup = await scope.Buffer.DoneFlushSegmentsAsync(flush, Cancel);
        Assert.Equal([new SegmentLoss(Project, 1, SegmentLossReason.ExpiredBeforeFlush)], cleanup.Losses);
        Assert.Empty(await scope.AllKeysAsync());
    }

    /// <summary>"The root arrives late": c at 1000, a at 1030, d at 1035; returns the flush at 1045 (not cleaned).</summary>
    private static async Task<FlushResult> RootArrivesLateAsync(IngestScope scope)
    {
        var segmentKey = SegmentKey(scope.Prefix, Id('a'));

        await scope.IngestAsync(1000, Child('c', 'a'));
        Assert.Equal(Map((segmentKey, 1060L)), await scope.QueueAsync());

        await scope.IngestAsync(1030, Root('a'));
        Assert.Equal(Map((segmentKey, 1040L)), await scope.QueueAsync());

        await scope.IngestAsync(1035, Child('d', 'a'));
        Assert.Equal(Map((segmentKey, 1045L)), await scope.QueueAsync());

        Assert.Empty((await scope.Buffer.FlushSegmentsAsync(1044, Cancel)).Segments);
        var flush = await scope.Buffer.FlushSegmentsAsync(1045, Cancel);
        var segment = Assert.Single(flush.Segments);
        Assert.Equal(segmentKey, segment.SegmentKey);
        Assert.Equal(Sorted(Id('a'), Id('c'), Id('d')), Sorted(SpanIds(segment)));
        Assert.All(segment.Spans, span => Assert.Equal(span.SpanId == Id('a'), IsSegment(span)));
        return flush;
    }

    /// <summary>Root a and child b ingested at 1000 and flushed at 1010; returns the flush, not cleaned.</summary>
    private static async Task<FlushResult> FlushRootAndChildAsync(IngestScope scope)
    {
        await scope.IngestAsync(1000, Root('a'), Child('b', 'a'));
        var flush = await scope.Buffer.FlushSegmentsAsync(1010, Cancel);
        var segment = Assert.Single(flush.Segments);
        Assert.Equal(SegmentKey(scope.Prefix, Id('a')), segment.SegmentKey);
        Assert.Equal(Sorted(Id('a'), Id('b')), Sorted(SpanIds(segment)));
        return flush;
    }
}

public sealed class ConceptsExampleTestsOnStandalone(StandaloneRedisFixture fixture) : ConceptsExampleTests(fixture);

public sealed class ConceptsExampleTestsOnCluster(ClusterRedisFixture fixture) : ConceptsExampleTests(fixture);
