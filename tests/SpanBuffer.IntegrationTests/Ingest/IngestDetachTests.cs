using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Ingest;
using static SpanBuffer.IntegrationTests.Ingest.SpanFactory;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>
/// Detached segments (reference §3.5 step 9): a subsegment that would push its segment over the size limit, or
/// whose segment is locked by a flusher, becomes its own segment keyed by its salt.
/// </summary>
public abstract class IngestDetachTests(RedisFixture fixture) : IngestTestBase(fixture)
{
    private static readonly string A = Id('a');
    private static readonly string B = Id('b');
    private static readonly string C = Id('c');
    private static readonly string D = Id('d');
    private static readonly string E = Id('e');

    [Fact]
    public async Task ProcessSpans_OverMaxSegmentBytesWithRoot_DetachesIntoSaltSegmentWithRootTimeout()
    {
        using var scope = NewScope(options => options.MaxSegmentBytes = 100);
        var original = scope.SegmentKey(B);
        var firstSalt = SaltHasher.Compute(B, A);
        await scope.IngestAsync(0, Root(B), Child(A, B));

        // 60 bytes in b, 60 more would make 120 > 100.
        await scope.IngestAsync(5, Child(C, B), Child(D, B));

        var detachedSalt = SaltHasher.Compute(C, D);
        var detached = $"{scope.Prefix}:s:{{1:{TraceId}}}:{detachedSalt}";
        Assert.Equal(detached, scope.SegmentKey(detachedSalt));
        await scope.AssertKeysAsync(
            scope.RedirectKey(),
            scope.QueueKey(),
            scope.MemberKeysKey(B),
            scope.IngestedCountKey(B),
            scope.IngestedBytesKey(B),
            scope.HasRootKey(B),
            scope.MemberKeysKey(detachedSalt),
            scope.IngestedCountKey(detachedSalt),
            scope.IngestedBytesKey(detachedSalt),
            scope.PayloadKey(firstSalt),
            scope.PayloadKey(detachedSalt));

        // The original segment is unchanged.
        Assert.Equal(2, await scope.GetNumberAsync(scope.IngestedCountKey(B)));
        Assert.Equal(60, await scope.GetNumberAsync(scope.IngestedBytesKey(B)));
        Assert.Equal([firstSalt], await scope.MemberSaltsAsync(B));
        Assert.Equal(Sorted(A, B), await scope.SegmentSpanIdsAsync(B));

        // The detached segment holds the new spans, with no root flag of its own.
        Assert.Equal(2, await scope.GetNumberAsync(scope.IngestedCountKey(detachedSalt)));
        Assert.Equal(60, await scope.GetNumberAsync(scope.IngestedBytesKey(detachedSalt)));
        Assert.Equal([detachedSalt], await scope.MemberSaltsAsync(detachedSalt));
        Assert.Equal(Sorted(C, D), await scope.SegmentSpanIdsAsync(detachedSalt));

        // Redirects of the new spans point at the original root, never at the salt.
        Assert.Equal(Map((A, B), (B, B), (C, B), (D, B)), await scope.RedirectsAsync());

        // The original kept its deadline; the detached one has the root timeout because the original had a root.
        Assert.Equal(Map((original, 10L), (detached, 15L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();

        // A later small child of c follows the redirect to b and fits there (30 + 60 <= 100).
        await scope.IngestAsync(6, Child(E, C));

        Assert.Equal(3, await scope.GetNumberAsync(scope.IngestedCountKey(B)));
        Assert.Equal(Sorted(A, B, E), await scope.SegmentSpanIdsAsync(B));
        Assert.Equal(Sorted(C, D), await scope.SegmentSpanIdsAsync(detachedSalt));
        Assert.Equal(Map((original, 16L), (detached, 15L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_OverMaxSegmentBytesWithoutRoot_DetachesIntoSaltSegmentWithTimeout()
    {
        using var scope = NewScope(options => options.MaxSegmentBytes = 100);
        await scope.IngestAsync(0, Child(A, B, bytes: 60));

        await scope.IngestAsync(5, Child(C, B, bytes: 50));

        var detachedSalt = SaltHasher.Compute(C);
        Assert.Equal(1, await scope.GetNumberAsync(scope.IngestedCountKey(B)));
        Assert.Equal(60, await scope.GetNumberAsync(scope.IngestedBytesKey(B)));
        Assert.Equal(1, await scope.GetNumberAsync(scope.IngestedCountKey(detachedSalt)));
        Assert.Equal(50, await scope.GetNumberAsync(scope.IngestedBytesKey(detachedSalt)));
        Assert.Equal(Map((A, B), (C, B)), await scope.RedirectsAsync());
        Assert.Equal(Map((scope.SegmentKey(B), 60L), (scope.SegmentKey(detachedSalt), 65L)), await scope.QueueAsync());
        Assert.DoesNotContain(await scope.AllKeysAsync(), key => key.StartsWith(scope.Prefix + ":hrs:", StringComparison.Ordinal));
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_FlushLockHeld_DetachesIntoSaltSegment()
    {
        using var scope = NewScope(options => options.FlushLockTtl = TimeSpan.FromSeconds(10));
        var original = scope.SegmentKey(B);
        var firstSalt = SaltHasher.Compute(B, A);
        await scope.IngestAsync(0, Root(B), Child(A, B));
        var lockKey = scope.Keys.FlushLockKey(original);
        Assert.Equal($"{scope.Prefix}:fl:{scope.Prefix}:s:{{1:{TraceId}}}:{B}", lockKey);
        await scope.Db.StringSetAsync(lockKey, "1", TimeSpan.FromSeconds(10));

        await scope.IngestAsync(1, Child(C, B));

        var detachedSalt = SaltHasher.Compute(C);
        Assert.Equal(2, await scope.GetNumberAsync(scope.IngestedCountKey(B)));
        Assert.Equal(60, await scope.GetNumberAsync(scope.IngestedBytesKey(B)));
        Assert.Equal([firstSalt], await scope.MemberSaltsAsync(B));
        Assert.Equal(1, await scope.GetNumberAsync(scope.IngestedCountKey(detachedSalt)));
        Assert.Equal([detachedSalt], await scope.MemberSaltsAsync(detachedSalt));
        Assert.Equal([C], await scope.SegmentSpanIdsAsync(detachedSalt));
        Assert.Equal(Map((A, B), (B, B), (C, B)), await scope.RedirectsAsync());
        Assert.Equal(Map((original, 10L), (scope.SegmentKey(detachedSalt), 11L)), await scope.QueueAsync());
        Assert.False(await scope.Db.KeyExistsAsync(scope.HasRootKey(detachedSalt)));
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_FlushLockNotHeld_MergesIntoSegment()
    {
        using var scope = NewScope(options => options.FlushLockTtl = TimeSpan.FromSeconds(10));
        await scope.IngestAsync(0, Root(B), Child(A, B));

        await scope.IngestAsync(1, Child(C, B));

        Assert.Equal(3, await scope.GetNumberAsync(scope.IngestedCountKey(B)));
        Assert.Equal(Sorted(SaltHasher.Compute(B, A), SaltHasher.Compute(C)), await scope.MemberSaltsAsync(B));
        Assert.Equal(Sorted(A, B, C), await scope.SegmentSpanIdsAsync(B));
        Assert.Equal(Map((scope.SegmentKey(B), 11L)), await scope.QueueAsync());
        Assert.False(await scope.Db.KeyExistsAsync(scope.IngestedCountKey(SaltHasher.Compute(C))));
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_LockKeyHeldWithFlushLocksDisabled_StillDetaches()
    {
        // Cleanup fences an emptied segment with the lock key while it removes the queue entry, whatever the
        // option: a span merged in then would lose its queue entry to that removal.
        using var scope = NewScope(options => options.FlushLockTtl = TimeSpan.Zero);
        await scope.IngestAsync(0, Root(B), Child(A, B));
        await scope.Db.StringSetAsync(scope.Keys.FlushLockKey(scope.SegmentKey(B)), "1", TimeSpan.FromSeconds(10));

        await scope.IngestAsync(1, Child(C, B));

        Assert.Equal(2, await scope.GetNumberAsync(scope.IngestedCountKey(B)));
        var detached = SaltHasher.Compute(C);
        Assert.Equal([C], await scope.SegmentSpanIdsAsync(detached));
        Assert.Equal(Map((scope.SegmentKey(B), 10L), (scope.SegmentKey(detached), 11L)), await scope.QueueAsync());
    }
}

public sealed class IngestDetachTestsOnStandalone(StandaloneRedisFixture fixture) : IngestDetachTests(fixture);

public sealed class IngestDetachTestsOnCluster(ClusterRedisFixture fixture) : IngestDetachTests(fixture);
