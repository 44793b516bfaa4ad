using SpanBuffer.IntegrationTests.Infrastructure;
using StackExchange.Redis;
using static SpanBuffer.IntegrationTests.Flush.IngestMessages;

namespace SpanBuffer.IntegrationTests.Flush;

/// <summary>
/// Corrupt Redis data (a foreign writer, a bug, manual edits) is skipped and counted, never thrown: a poisoned entry
/// must not fail every flush of its shard, and the healthy segments beside it are flushed as usual.
/// </summary>
public abstract class FlushCorruptDataTests(RedisFixture fixture) : FlushTestBase(fixture)
{
    [Fact]
    public async Task Flush_QueueMembersThatAreNotSegmentKeys_AreRemovedAndCountedWhileTheRestFlushes()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix });
        var trace = NewTraceId();
        var root = Create(trace, Id('a'), null);
        await buffer.ProcessSpansAsync([root], Now, TestContext.Current.CancellationToken);
        var queue = prefix + ":q:0";
        RedisValue[] corrupt =
        [
            "not-a-segment-key", "span-buf:s:{x:trace}:root", (byte[])[0xff, 0xfe, (byte)':', (byte)'s'], "a:b:c:d:e:f:g",

            // Parseable, but without the {project:trace} hash tag its keys would span cluster slots.
            "span-buf:s:1:" + trace + ":root", "span-buf:s:{+1:" + trace + "}:root",
        ];
        await Db.SortedSetAddAsync(queue, corrupt.Select(m => new SortedSetEntry(m, Now)).ToArray());

        var result = await FlushAndDoneAsync(buffer, Now + 10);

        var segment = Assert.Single(result.Segments);
        AssertSegment(segment, [root], Id('a'), rootSpanId: Id('a'));
        Assert.Equal(corrupt.Length, result.Stats.CorruptEntries);
        Assert.Equal(1, result.Stats.Candidates);
        Assert.Empty(result.Losses);
        Assert.Equal(0, await Db.SortedSetLengthAsync(queue));
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_CountersThatAreNotIntegers_ReadAsMissingAndTheSegmentFlushes()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix });
        var trace = NewTraceId();
        var spans = new[] { Create(trace, Id('a'), null), Create(trace, Id('b'), Id('a')) };
        await buffer.ProcessSpansAsync(spans, Now, TestContext.Current.CancellationToken);
        var segmentKey = SegmentKey(prefix, 1, trace, Id('a'));
        await Db.StringSetAsync($"{prefix}:ic:{segmentKey}", "two");
        await Db.StringSetAsync($"{prefix}:ibc:{segmentKey}", "1.5");

        var result = await FlushAndDoneAsync(buffer, Now + 10);

        AssertSegment(Assert.Single(result.Segments), spans, Id('a'), rootSpanId: Id('a'));
        Assert.Equal(2, result.Stats.CorruptEntries);
        Assert.Empty(result.Losses);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_IndexAndPayloadSetOfTheWrongType_ReadAsEmptyAndOtherSegmentsFlush()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix });
        var healthy = Create(NewTraceId(), Id('a'), null);
        var brokenIndexTrace = NewTraceId();
        var brokenSetTrace = NewTraceId();
        await buffer.ProcessSpansAsync([healthy, Create(brokenIndexTrace, Id('a'), null), Create(brokenSetTrace, Id('a'), null)], Now, TestContext.Current.CancellationToken);

        var brokenIndex = $"{prefix}:mk:{{1:{brokenIndexTrace}}}:{Id('a')}";
        var unlistedSalt = (string)(await Db.SetMembersAsync(brokenIndex)).Single()!;
        await Db.KeyDeleteAsync(brokenIndex);
        await Db.StringSetAsync(brokenIndex, "not a set", TimeSpan.FromHours(1));
        var salt = (string)(await Db.SetMembersAsync($"{prefix}:mk:{{1:{brokenSetTrace}}}:{Id('a')}")).Single()!;
        var brokenSet = $"{prefix}:s:{{1:{brokenSetTrace}:{salt}}}:{salt}";
        await Db.KeyDeleteAsync(brokenSet);
        await Db.ListRightPushAsync(brokenSet, "not a set");

        var result = await FlushAndDoneAsync(buffer, Now + 10);

        Assert.Equal(3, result.Segments.Count);
        AssertSegment(SegmentByRoot(result.Segments.Where(s => s.Spans.Count > 0), Id('a')), [healthy], Id('a'), rootSpanId: Id('a'));
        Assert.Equal(2, result.Segments.Count(s => s.Spans.Count == 0));
        Assert.Equal(2, result.Stats.CorruptEntries);

        // Each broken segment had one span counted at ingest: both count as dropped, for their project.
        Assert.Equal([new(1, 2, Models.SegmentLossReason.Dropped)], result.Losses);

        // Cleanup removed the wrong-type payload set (it was listed) and the wrong-type index (read as empty, so
        // nothing is left of the segment); the payload set only that index listed stays until its TTL.
        Assert.False(await Db.KeyExistsAsync(brokenSet));
        Assert.False(await Db.KeyExistsAsync(brokenIndex));
        var unlistedSet = $"{prefix}:s:{{1:{brokenIndexTrace}:{unlistedSalt}}}:{unlistedSalt}";
        Assert.True(await Db.KeyExistsAsync(unlistedSet));
        await Db.KeyDeleteAsync(brokenIndex);
        await Db.KeyDeleteAsync(unlistedSet);

        // As for any lost span (reference §4.8), the redirects of the spans not flushed stay until their TTL, and so
        // does the stored salt the corrupt index hid from cleanup.
        var redirects = new[] { $"{prefix}:ssr:{{1:{brokenIndexTrace}}}", $"{prefix}:ssr:{{1:{brokenSetTrace}}}", $"{prefix}:ss:{{1:{brokenIndexTrace}}}" };
        Assert.Equal(redirects.Order(StringComparer.Ordinal), (await KeysAsync(prefix)).Where(k => !k.Contains(":hrs:", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        foreach (var redirect in redirects)
        {
            await Db.KeyDeleteAsync(redirect);
        }

        await AssertNoKeysLeftAsync(prefix);
    }
}

public sealed class FlushCorruptDataTestsOnStandalone(StandaloneRedisFixture fixture) : FlushCorruptDataTests(fixture);

public sealed class FlushCorruptDataTestsOnCluster(ClusterRedisFixture fixture) : FlushCorruptDataTests(fixture);
