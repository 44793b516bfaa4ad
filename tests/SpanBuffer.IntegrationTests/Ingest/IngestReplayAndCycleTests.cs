using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Ingest;
using StackExchange.Redis;
using static SpanBuffer.IntegrationTests.Ingest.SpanFactory;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>Replayed batches (reference §8.3) and cyclic parent links, which well-formed input never has.</summary>
public abstract class IngestReplayAndCycleTests(RedisFixture fixture) : IngestTestBase(fixture)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly string A = Id('a');
    private static readonly string B = Id('b');
    private static readonly string C = Id('c');

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public async Task ProcessSpans_ReplayedBatch_WritesNoNewPayloadsAndCountsOnce(int compressionLevel)
    {
        using var scope = NewScope(options => options.CompressionLevel = compressionLevel);
        var batch = new[] { Root(B, bytes: 31), Child(A, B, bytes: 32), Child(C, B, bytes: 33) };
        var payloadKey = scope.PayloadKey(SaltHasher.Compute(B, A, C));
        await scope.IngestAsync(batch, 0);
        var keysBefore = await scope.AllKeysAsync();
        var payloadMembersBefore = await PayloadMembersAsync(scope.Db, payloadKey);
        var indexBefore = await scope.MemberSaltsAsync(B);
        var redirectsBefore = await scope.RedirectsAsync();

        await scope.IngestAsync(batch, 1);

        Assert.Equal(keysBefore, await scope.AllKeysAsync());
        Assert.Equal(Assert.Single(keysBefore, key => key.StartsWith(scope.Prefix + ":s:", StringComparison.Ordinal)), payloadKey);
        Assert.Equal(payloadMembersBefore, await PayloadMembersAsync(scope.Db, payloadKey));
        Assert.Equal(compressionLevel == -1 ? 3 : 1, await scope.Db.SetLengthAsync(payloadKey));
        Assert.Equal(indexBefore, await scope.MemberSaltsAsync(B));
        Assert.Equal(redirectsBefore, await scope.RedirectsAsync());
        Assert.Equal(Sorted(A, B, C), await scope.SegmentSpanIdsAsync(B));

        // The reference counts a replay again (§8.3), which a flush then reports as dropped spans; here the salt,
        // already registered, tells the replay apart.
        Assert.Equal(3, await scope.GetNumberAsync(scope.IngestedCountKey(B)));
        Assert.Equal(31 + 32 + 33, await scope.GetNumberAsync(scope.IngestedBytesKey(B)));
        Assert.Equal(Map((scope.SegmentKey(B), 11L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();

        var flushed = await scope.Buffer.FlushSegmentsAsync(1000, Ct);
        Assert.Equal(3, Assert.Single(flushed.Segments).Spans.Count);
        Assert.Empty(flushed.Losses);
    }

    [Fact]
    public async Task ProcessSpans_TwoCycleInOneBatch_ReturnsWithOneSegment()
    {
        using var scope = NewScope();

        await scope.Buffer.ProcessSpansAsync([Child(A, B), Child(B, A)], 0, Ct).WaitAsync(Timeout, Ct);

        // Grouping: a joins b's tree; b's parent a redirects to b itself, so b anchors the tree (b, [a, b]).
        await scope.AssertKeysAsync(
            scope.RedirectKey(),
            scope.QueueKey(),
            scope.MemberKeysKey(B),
            scope.IngestedCountKey(B),
            scope.IngestedBytesKey(B),
            scope.PayloadKey(SaltHasher.Compute(A, B)));
        Assert.Equal(Map((A, B), (B, B)), await scope.RedirectsAsync());
        Assert.Equal(2, await scope.GetNumberAsync(scope.IngestedCountKey(B)));
        Assert.Equal(Sorted(A, B), await scope.SegmentSpanIdsAsync(B));
        Assert.Equal(Map((scope.SegmentKey(B), 60L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_TwoCycleOverTwoBatches_ReturnsWithOneSegment()
    {
        using var scope = NewScope();

        await scope.Buffer.ProcessSpansAsync([Child(A, B)], 0, Ct).WaitAsync(Timeout, Ct);
        await scope.Buffer.ProcessSpansAsync([Child(B, A)], 1, Ct).WaitAsync(Timeout, Ct);

        // b's parent a resolves to b: the chunk contains its own resolved root, which must not be merged into
        // itself (and deleted) (reference §8.3).
        await scope.AssertKeysAsync(
            scope.RedirectKey(),
            scope.QueueKey(),
            scope.MemberKeysKey(B),
            scope.IngestedCountKey(B),
            scope.IngestedBytesKey(B),
            scope.PayloadKey(SaltHasher.Compute(A)),
            scope.PayloadKey(SaltHasher.Compute(B)));
        Assert.Equal(Map((A, B), (B, B)), await scope.RedirectsAsync());
        Assert.Equal(2, await scope.GetNumberAsync(scope.IngestedCountKey(B)));
        Assert.Equal(60, await scope.GetNumberAsync(scope.IngestedBytesKey(B)));
        Assert.Equal(Sorted(A, B), await scope.SegmentSpanIdsAsync(B));
        Assert.Equal(Map((scope.SegmentKey(B), 61L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_ThreeCycleInOneBatch_ReturnsWithOneSegment()
    {
        using var scope = NewScope();

        await scope.Buffer.ProcessSpansAsync([Child(A, B), Child(B, C), Child(C, A)], 0, Ct).WaitAsync(Timeout, Ct);

        Assert.Equal(Map((A, C), (B, C), (C, C)), await scope.RedirectsAsync());
        Assert.Equal(3, await scope.GetNumberAsync(scope.IngestedCountKey(C)));
        Assert.Equal([SaltHasher.Compute(A, B, C)], await scope.MemberSaltsAsync(C));
        Assert.Equal(Map((scope.SegmentKey(C), 60L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_ThreeCycleOverThreeBatches_ReturnsWithOneSegment()
    {
        using var scope = NewScope();

        await scope.Buffer.ProcessSpansAsync([Child(A, B)], 0, Ct).WaitAsync(Timeout, Ct);
        await scope.Buffer.ProcessSpansAsync([Child(B, C)], 1, Ct).WaitAsync(Timeout, Ct);
        await scope.Buffer.ProcessSpansAsync([Child(C, A)], 2, Ct).WaitAsync(Timeout, Ct);

        await scope.AssertKeysAsync(
            scope.RedirectKey(),
            scope.QueueKey(),
            scope.MemberKeysKey(C),
            scope.IngestedCountKey(C),
            scope.IngestedBytesKey(C),
            scope.PayloadKey(SaltHasher.Compute(A)),
            scope.PayloadKey(SaltHasher.Compute(B)),
            scope.PayloadKey(SaltHasher.Compute(C)));
        Assert.Equal(Map((A, B), (B, C), (C, C)), await scope.RedirectsAsync());
        Assert.Equal(3, await scope.GetNumberAsync(scope.IngestedCountKey(C)));
        Assert.Equal(Sorted(A, B, C), await scope.SegmentSpanIdsAsync(C));
        Assert.Equal(Map((scope.SegmentKey(C), 62L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_SpanIsItsOwnParent_ReturnsWithOneSegment()
    {
        using var scope = NewScope();

        await scope.Buffer.ProcessSpansAsync([Child(A, A)], 0, Ct).WaitAsync(Timeout, Ct);
        await scope.Buffer.ProcessSpansAsync([Child(A, A)], 1, Ct).WaitAsync(Timeout, Ct);

        Assert.Equal(Map((A, A)), await scope.RedirectsAsync());
        Assert.Equal(1, await scope.GetNumberAsync(scope.IngestedCountKey(A)));
        Assert.Equal([A], await scope.SegmentSpanIdsAsync(A));
        Assert.Equal(Map((scope.SegmentKey(A), 61L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_ReplayOfChunkDetachedWhileLocked_GoesBackToItsDetachedSegment()
    {
        using var scope = NewScope(options => options.FlushLockTtl = TimeSpan.FromSeconds(30));
        await scope.IngestAsync([Root(B)], 0);
        await scope.Db.StringSetAsync(scope.Keys.FlushLockKey(scope.SegmentKey(B)), "held", TimeSpan.FromSeconds(30));
        var late = new[] { Child(A, B) };
        await scope.IngestAsync(late, 1);
        var detachedSalt = SaltHasher.Compute(A);
        Assert.Equal([detachedSalt], await scope.MemberSaltsAsync(detachedSalt));

        await scope.Db.KeyDeleteAsync(scope.Keys.FlushLockKey(scope.SegmentKey(B)));
        await scope.IngestAsync(late, 2);

        // Without the detached segment's counter in view the replay would join b as well: listed twice, counted twice.
        Assert.Equal([detachedSalt], await scope.MemberSaltsAsync(detachedSalt));
        Assert.Equal(1, await scope.GetNumberAsync(scope.IngestedCountKey(detachedSalt)));
        Assert.DoesNotContain(detachedSalt, await scope.MemberSaltsAsync(B));
        Assert.Equal(1, await scope.GetNumberAsync(scope.IngestedCountKey(B)));
    }

    [Fact]
    public async Task ProcessSpans_ReplayAfterTheSegmentWasCleanedUp_CountsAgain()
    {
        using var scope = NewScope();
        var batch = new[] { Root(B), Child(A, B) };
        await scope.IngestAsync(batch, 0);
        var flushed = await scope.Buffer.FlushSegmentsAsync(100, Ct);
        await scope.Buffer.DoneFlushSegmentsAsync(flushed.Segments, Ct);

        await scope.IngestAsync(batch, 200);

        // The data is new again (delivered once already): an at-least-once duplicate, counted like any batch.
        Assert.Equal(2, await scope.GetNumberAsync(scope.IngestedCountKey(B)));
        var again = await scope.Buffer.FlushSegmentsAsync(1000, Ct);
        Assert.Equal(2, Assert.Single(again.Segments).Spans.Count);
        Assert.Empty(again.Losses);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<string[]> PayloadMembersAsync(IDatabase db, string payloadKey) =>
        [.. (await db.SetMembersAsync(payloadKey)).Select(member => Convert.ToHexString((byte[])member!)).Order(StringComparer.Ordinal)];
}

public sealed class IngestReplayAndCycleTestsOnStandalone(StandaloneRedisFixture fixture) : IngestReplayAndCycleTests(fixture);

public sealed class IngestReplayAndCycleTestsOnCluster(ClusterRedisFixture fixture) : IngestReplayAndCycleTests(fixture);
