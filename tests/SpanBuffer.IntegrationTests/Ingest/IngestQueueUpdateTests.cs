using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Ingest;
using static SpanBuffer.IntegrationTests.Ingest.SpanFactory;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>
/// The queue update rule (reference §3.6 step 5): unless all of a tree's results were detached, the span key of every
/// span of the tree leaves the queue, whichever chunk the span went to and whoever queued the key.
/// </summary>
public abstract class IngestQueueUpdateTests(RedisFixture fixture) : IngestTestBase(fixture)
{
    private static readonly string A = Id('a');
    private static readonly string B = Id('b');
    private static readonly string C = Id('c');
    private static readonly string D = Id('d');

    [Fact]
    public async Task ProcessSpans_QueueEntryOfAChildSpanWrittenByAnotherWriter_IsRemoved()
    {
        using var scope = NewScope();

        // An entry for a segment rooted at a, as another consumer (or an interrupted call) may leave; our script never
        // reports a as a merged root, because a has no data of its own.
        await scope.Db.SortedSetAddAsync(scope.QueueKey(), scope.SegmentKey(A), 5);
        await scope.IngestAsync(100, Root(B), Child(A, B));

        Assert.Equal(Map((scope.SegmentKey(B), 110L)), await scope.QueueAsync());

        // So no flush finds an empty segment for it.
        var flush = await scope.Buffer.FlushSegmentsAsync(1_000, TestContext.Current.CancellationToken);
        var segment = Assert.Single(flush.Segments);
        Assert.Equal(scope.SegmentKey(B), segment.SegmentKey);
        Assert.Equal(2, segment.Spans.Count);
    }

    [Fact]
    public async Task ProcessSpans_MergedRootsRule_KeepsTheForeignEntryWhichFlushesEmptyAndIsCleaned()
    {
        using var scope = NewScope(options => options.QueueCleanup = QueueCleanupRule.MergedRoots);
        await scope.IngestAsync(99, Child(C, B));
        await scope.Db.SortedSetAddAsync(scope.QueueKey(), scope.SegmentKey(A), 5);

        // c had a segment of its own: merged, so its entry goes; a never had one, so its entry stays.
        await scope.IngestAsync(100, Root(B), Child(A, B));
        Assert.Equal(Map((scope.SegmentKey(A), 5L), (scope.SegmentKey(B), 110L)), await scope.QueueAsync());

        var flush = await scope.Buffer.FlushSegmentsAsync(1_000, TestContext.Current.CancellationToken);
        Assert.Empty(flush.Segments.Single(s => s.SegmentKey == scope.SegmentKey(A)).Spans);
        Assert.Equal(3, flush.Segments.Single(s => s.SegmentKey == scope.SegmentKey(B)).Spans.Count);
        await scope.Buffer.DoneFlushSegmentsAsync(flush, TestContext.Current.CancellationToken);
        Assert.Empty(await scope.QueueAsync());
    }

    [Fact]
    public async Task ProcessSpans_SpanOfTheTreeInADetachedChunk_LosesItsQueueEntryToo()
    {
        // Two spans per call, at most 100 bytes per segment: [b, a] merges into b, [c, d] would make 120 and detaches.
        using var scope = NewScope(options =>
        {
            options.MaxSpansPerScriptCall = 2;
            options.MaxSegmentBytes = 100;
        });
        await scope.Db.SortedSetAddAsync(scope.QueueKey(), scope.SegmentKey(C), 5);

        await scope.IngestAsync(100, Root(B), Child(A, B), Child(C, B), Child(D, B));

        var detached = scope.SegmentKey(SaltHasher.Compute(C, D));
        Assert.Equal(Map((scope.SegmentKey(B), 110L), (detached, 110L)), await scope.QueueAsync());
    }

    [Fact]
    public async Task ProcessSpans_EveryResultOfTheTreeDetached_RemovesNothing()
    {
        using var scope = NewScope(options => options.MaxSegmentBytes = 100);
        await scope.IngestAsync(100, Root(B), Child(A, B));
        await scope.Db.SortedSetAddAsync(scope.QueueKey(), scope.SegmentKey(C), 5);

        // 60 bytes more would make 120: the whole tree detaches, and a detached result removes no queue entry.
        await scope.IngestAsync(101, Child(C, B), Child(D, B));

        var detached = scope.SegmentKey(SaltHasher.Compute(C, D));
        Assert.Equal(Map((scope.SegmentKey(B), 110L), (scope.SegmentKey(C), 5L), (detached, 111L)), await scope.QueueAsync());
    }

    [Fact]
    public async Task ProcessSpans_ChildSegmentMergedByALaterBatch_LeavesOnlyTheRootQueued()
    {
        using var scope = NewScope();
        await scope.IngestAsync(100, Child(D, C));
        await scope.IngestAsync(101, Child(C, B), Child(A, B));
        Assert.Equal(Map((scope.SegmentKey(B), 161L)), await scope.QueueAsync());

        await scope.IngestAsync(102, Root(B));

        Assert.Equal(Map((scope.SegmentKey(B), 112L)), await scope.QueueAsync());
        var flush = await scope.Buffer.FlushSegmentsAsync(1_000, TestContext.Current.CancellationToken);
        Assert.Equal(4, Assert.Single(flush.Segments).Spans.Count);
    }
}

public sealed class IngestQueueUpdateTestsOnStandalone(StandaloneRedisFixture fixture) : IngestQueueUpdateTests(fixture);

public sealed class IngestQueueUpdateTestsOnCluster(ClusterRedisFixture fixture) : IngestQueueUpdateTests(fixture);
