using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;
using StackExchange.Redis;
using static SpanBuffer.IntegrationTests.Flush.IngestMessages;

namespace SpanBuffer.IntegrationTests.Flush;

/// <summary>Lost data is reported as losses with a reason, never thrown: expired payloads, expired segments, bad payloads.</summary>
public abstract class FlushLossTests(RedisFixture fixture) : FlushTestBase(fixture)
{
    [Fact]
    public async Task Flush_PayloadKeyExpired_ReportsItsSpansAsDropped()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix });
        var trace = NewTraceId();
        var root = Create(trace, Id('a'), null, projectId: 42);
        var child = Create(trace, Id('b'), Id('a'), projectId: 42);
        await buffer.ProcessSpansAsync([root, child], Now, TestContext.Current.CancellationToken);
        var before = await PayloadKeysAsync(prefix);
        await buffer.ProcessSpansAsync([Create(trace, Id('c'), Id('a'), projectId: 42), Create(trace, Id('d'), Id('c'), projectId: 42)], Now, TestContext.Current.CancellationToken);
        var expiring = Assert.Single((await PayloadKeysAsync(prefix)).Except(before));

        // Expire it the way a TTL would, without waiting: a tiny TTL, then DEL in case it has not fired yet.
        Assert.True(await Db.KeyExpireAsync(expiring, TimeSpan.FromMilliseconds(1)));
        await Db.KeyDeleteAsync(expiring);

        Assert.Empty((await buffer.FlushSegmentsAsync(Now + 9, TestContext.Current.CancellationToken)).Segments);
        var result = await FlushAndDoneAsync(buffer, Now + 10);

        var segment = Assert.Single(result.Segments);
        AssertSegment(segment, [root, child], Id('a'), rootSpanId: Id('a'));
        Assert.Contains(expiring, segment.PayloadKeys);
        Assert.Equal([new SegmentLoss(42, 2, SegmentLossReason.Dropped)], result.Losses);
        Assert.Equal(2, result.Stats.DroppedSpans);
        Assert.Equal(2, result.Stats.SpansFlushed);

        // Cleanup removes the redirects of the flushed spans only (reference §4.8): those of the lost spans stay
        // until their TTL.
        var redirects = $"{prefix}:ssr:{{42:{trace}}}";
        Assert.Equal([redirects], (await KeysAsync(prefix)).Where(k => !k.Contains(":hrs:", StringComparison.Ordinal)));
        Assert.Equal([Id('c'), Id('d')], (await Db.HashKeysAsync(redirects)).Select(k => k.ToString()).Order(StringComparer.Ordinal));
        Assert.InRange((await Db.KeyTimeToLiveAsync(redirects))!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3600));
        await Db.KeyDeleteAsync(redirects);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_EmptySegmentOlderThanTheTtl_IsReportedAsExpiredBeforeFlush()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions
        {
            KeyPrefix = prefix,
            RedisTtl = TimeSpan.FromSeconds(3600),
            RootTimeout = TimeSpan.FromSeconds(10),
        });
        var queue = prefix + ":q:0";

        // Estimated age = (now - deadline) + root timeout, expired when it exceeds the TTL (strictly).
        var expired = SegmentKey(prefix, 5, NewTraceId(), Id('a'));
        var expiredAtBoundary = SegmentKey(prefix, 6, NewTraceId(), Id('a'));
        var youngAtBoundary = SegmentKey(prefix, 7, NewTraceId(), Id('a'));
        var young = SegmentKey(prefix, 8, NewTraceId(), Id('a'));
        await Db.SortedSetAddAsync(
            queue,
            [new(expired, Now - 4000), new(expiredAtBoundary, Now - 3591), new(youngAtBoundary, Now - 3590), new(young, Now - 100)]);

        var result = await FlushAndDoneAsync(buffer, Now);

        Assert.Equal(4, result.Segments.Count);
        Assert.All(result.Segments, s => Assert.Empty(s.Spans));
        Assert.Equal(
            [new SegmentLoss(5, 1, SegmentLossReason.ExpiredBeforeFlush), new SegmentLoss(6, 1, SegmentLossReason.ExpiredBeforeFlush)],
            result.Losses.OrderBy(l => l.ProjectId));
        Assert.Equal(2, result.Stats.ExpiredSegments);
        Assert.Equal(4, result.Stats.EmptySegments);
        Assert.Equal(0, result.Stats.DroppedSpans);
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task Flush_StoredPayloadNotAJsonObject_IsDroppedAsInvalidWhileTheOtherSpansFlush()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, CompressionLevel = -1 });
        var trace = NewTraceId();
        var root = Create(trace, Id('a'), null, projectId: 3);
        var child = Create(trace, Id('b'), Id('a'), projectId: 3);
        await buffer.ProcessSpansAsync([root, child], Now, TestContext.Current.CancellationToken);
        var payloadKey = Assert.Single(await PayloadKeysAsync(prefix));
        RedisValue[] garbage =
        [
            "not json at all",
            "[1,2,3]",
            "\"a string\"",
            "42",
            "null",
            "{\"span_id\":\"cccccccccccccccc\",\"unterminated\":",
            "{\"span_id\":\"dddddddddddddddd\"} trailing",
            "{\"span_id\":\"eeeeeeeeeeeeeeee\"}{}",
            string.Empty,
            new byte[] { 0xC3, 0x28, 0x7B, 0x7D },
        ];
        Assert.Equal(garbage.Length, await Db.SetAddAsync(payloadKey, garbage));

        var result = await FlushAndDoneAsync(buffer, Now + 10);

        var segment = Assert.Single(result.Segments);
        AssertSegment(segment, [root, child], Id('a'), rootSpanId: Id('a'));
        Assert.Equal([new SegmentLoss(3, garbage.Length, SegmentLossReason.InvalidPayload)], result.Losses);
        Assert.Equal(garbage.Length, result.Stats.InvalidPayloads);
        Assert.Equal(0, result.Stats.DroppedSpans);
        Assert.Equal(2, result.Stats.SpansFlushed);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_CorruptZstdFrame_IsReportedAsLostWhileTheOtherSpansFlush()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix });
        var trace = NewTraceId();
        var root = Create(trace, Id('a'), null, projectId: 3);
        var children = new[] { Create(trace, Id('b'), Id('a'), projectId: 3), Create(trace, Id('c'), Id('a'), projectId: 3) };
        await buffer.ProcessSpansAsync([root], Now, TestContext.Current.CancellationToken);
        var rootPayloadKey = Assert.Single(await PayloadKeysAsync(prefix));
        await buffer.ProcessSpansAsync(children, Now, TestContext.Current.CancellationToken);
        var childPayloadKey = Assert.Single(await PayloadKeysAsync(prefix), key => key != rootPayloadKey);

        // Replace the children's frame by its first half: the zstd magic survives, the frame does not.
        var frame = (byte[])(await Db.SetMembersAsync(childPayloadKey)).Single()!;
        await Db.KeyDeleteAsync(childPayloadKey);
        await Db.SetAddAsync(childPayloadKey, frame[..(frame.Length / 2)]);

        var result = await FlushAndDoneAsync(buffer, Now + 10);

        var segment = Assert.Single(result.Segments);
        Assert.Equal([Id('a')], segment.Spans.Select(s => s.SpanId));
        Assert.Equal(
            [new SegmentLoss(3, 1, SegmentLossReason.Dropped), new SegmentLoss(3, 1, SegmentLossReason.InvalidPayload)],
            result.Losses.OrderBy(l => l.Reason));

        // As for any lost span, only the redirects of the spans that were not flushed stay, until their TTL.
        var redirects = $"{prefix}:ssr:{{3:{trace}}}";
        Assert.Equal([redirects], await KeysAsync(prefix));
        Assert.Equal([Id('b'), Id('c')], (await Db.HashKeysAsync(redirects)).Select(k => (string)k!).Order());
    }

    private async Task<IReadOnlyList<string>> PayloadKeysAsync(string prefix) =>
        (await KeysAsync(prefix)).Where(k => k.StartsWith(prefix + ":s:", StringComparison.Ordinal)).ToList();
}

public sealed class FlushLossTestsOnStandalone(StandaloneRedisFixture fixture) : FlushLossTests(fixture);

public sealed class FlushLossTestsOnCluster(ClusterRedisFixture fixture) : FlushLossTests(fixture);
