using System.Text.Json;
using SpanBuffer.Ingest;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;
using StackExchange.Redis;
using ZstdSharp;
using static SpanBuffer.IntegrationTests.Flush.IngestMessages;

namespace SpanBuffer.IntegrationTests.Flush;

/// <summary>Ingest, flush before and after the deadline, clean up: how spans become flushed segments.</summary>
public abstract class SegmentFlushTests(RedisFixture fixture) : FlushTestBase(fixture)
{
    [Fact]
    public async Task Flush_SingleSegment_FlushesAtRootTimeoutWithOnlyTheRootMarked()
    {
        var prefix = NewKeyPrefix();
        var options = new SpanBufferOptions { KeyPrefix = prefix };
        using var buffer = CreateBuffer(options);
        var trace = NewTraceId();
        var root = Create(trace, Id('a'), null);
        var child1 = Create(trace, Id('b'), Id('a'));
        var child2 = Create(trace, Id('c'), Id('a'), isSegment: false);
        var grandchild = Create(trace, Id('d'), Id('b'));
        Span[] spans = [grandchild, child1, root, child2];
        await buffer.ProcessSpansAsync(spans, Now, TestContext.Current.CancellationToken);

        var early = await buffer.FlushSegmentsAsync(Now + 9, TestContext.Current.CancellationToken);
        Assert.Empty(early.Segments);
        Assert.Equal(0, early.Stats.Candidates);

        var result = await buffer.FlushSegmentsAsync(Now + 10, TestContext.Current.CancellationToken);

        var segment = Assert.Single(result.Segments);
        Assert.Equal(SegmentKey(prefix, 1, trace, Id('a')), segment.SegmentKey);
        Assert.Equal(new FlushCandidate(0, prefix + ":q:0", segment.SegmentKey, Now + 10), segment.Candidate);
        Assert.Equal(1, segment.ProjectId);
        Assert.Single(segment.PayloadKeys);
        AssertSegment(segment, spans, Id('a'), rootSpanId: Id('a'));
        Assert.Empty(result.Losses);
        Assert.False(result.AnyShardAtLimit);
        Assert.Equal(1, result.Stats.SegmentsLoaded);
        Assert.Equal(4, result.Stats.SpansFlushed);
        Assert.Equal(1, result.Stats.SegmentsWithRoot);
        Assert.Equal(0, result.Stats.EmptySegments);

        var message = Assert.Single(segment.ToMessages(options.MaxSegmentBytes));
        Assert.Equal(1, message.ProjectId);
        Assert.False(message.SkipEnrichment);
        var bytes = message.ToArray();
        Assert.Equal(message.Length, bytes.Length);
        using var document = JsonDocument.Parse(bytes);
        var json = document.RootElement;
        Assert.Equal(new[] { "flush_id", "spans" }, json.EnumerateObject().Select(p => p.Name));
        Assert.Matches("^[0-9a-f]{32}$", json.GetProperty("flush_id").GetString());
        Assert.Equal(message.FlushId, json.GetProperty("flush_id").GetString());
        var messageSpans = json.GetProperty("spans").EnumerateArray().ToArray();
        Assert.Equal(segment.Spans.Count, messageSpans.Length);
        for (var i = 0; i < messageSpans.Length; i++)
        {
            Assert.Equal(System.Text.Encoding.UTF8.GetString(segment.Spans[i].Json.Span), messageSpans[i].GetRawText());
        }

        await buffer.DoneFlushSegmentsAsync(result.Segments, TestContext.Current.CancellationToken);
        await AssertNoKeysLeftAsync(prefix);
        Assert.Empty((await buffer.FlushSegmentsAsync(Now + 3600, TestContext.Current.CancellationToken)).Segments);
    }

    [Fact]
    public async Task Flush_NestedSegmentSpanWithParent_AnchorsItsOwnSegment()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix });
        var trace = NewTraceId();
        var root = Create(trace, Id('a'), null, isSegment: true);
        var child = Create(trace, Id('b'), Id('a'));
        var nested = Create(trace, Id('c'), Id('b'), isSegment: true);
        var nestedChild = Create(trace, Id('d'), Id('c'));
        var nestedGrandchild = Create(trace, Id('e'), Id('d'));
        await buffer.ProcessSpansAsync([nestedGrandchild, child, nested, root, nestedChild], Now, TestContext.Current.CancellationToken);

        Assert.Empty((await buffer.FlushSegmentsAsync(Now + 9, TestContext.Current.CancellationToken)).Segments);
        var result = await FlushAndDoneAsync(buffer, Now + 10);

        Assert.Equal(2, result.Segments.Count);
        AssertSegment(SegmentByRoot(result.Segments, Id('a')), [root, child], Id('a'), rootSpanId: Id('a'));
        AssertSegment(SegmentByRoot(result.Segments, Id('c')), [nested, nestedChild, nestedGrandchild], Id('c'), rootSpanId: Id('c'));
        Assert.Equal(2, result.Stats.SegmentsWithRoot);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_OrphansWithoutRoot_FlushAtTimeoutUnderTopmostKnownParent()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, Timeout = TimeSpan.FromSeconds(60) });
        var trace = NewTraceId();
        var missingParent = Id('f');
        var grandchild = Create(trace, Id('c'), Id('a'));
        var child1 = Create(trace, Id('a'), missingParent);
        var child2 = Create(trace, Id('b'), missingParent, isSegment: false);

        // The grandchild first roots a segment at 'a'; the next batch merges it under the unknown parent.
        await buffer.ProcessSpansAsync([grandchild], Now - 5, TestContext.Current.CancellationToken);
        await buffer.ProcessSpansAsync([child1, child2], Now, TestContext.Current.CancellationToken);

        var early = await buffer.FlushSegmentsAsync(Now + 59, TestContext.Current.CancellationToken);
        Assert.Empty(early.Segments);
        var result = await FlushAndDoneAsync(buffer, Now + 60);

        var segment = Assert.Single(result.Segments);
        Assert.Equal(1, result.Stats.Candidates); // the queue entry of the merged segment 'a' was removed at ingest
        Assert.Equal(SegmentKey(prefix, 1, trace, missingParent), segment.SegmentKey);
        AssertSegment(segment, [grandchild, child1, child2], missingParent, rootSpanId: null);
        Assert.All(segment.Spans, span => Assert.False(IsSegmentOf(span)));
        Assert.Equal(0, result.Stats.SegmentsWithRoot);
        Assert.Empty(result.Losses);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_TraceInTwoProjects_FlushesOneSegmentPerProject()
    {
        var prefix = NewKeyPrefix();
        var options = new SpanBufferOptions { KeyPrefix = prefix };
        using var buffer = CreateBuffer(options);
        var trace = NewTraceId();
        var root1 = Create(trace, Id('a'), null, projectId: 1);
        var child1 = Create(trace, Id('b'), Id('a'), projectId: 1);
        var root2 = Create(trace, Id('c'), null, projectId: 2);
        var child2 = Create(trace, Id('d'), Id('c'), projectId: 2);

        // Its parent lives in project 1: it is never joined and flushes rootless in project 2.
        var crossProject = Create(trace, Id('e'), Id('a'), projectId: 2);
        await buffer.ProcessSpansAsync([child2, root1, crossProject, root2, child1], Now, TestContext.Current.CancellationToken);

        Assert.Empty((await buffer.FlushSegmentsAsync(Now + 9, TestContext.Current.CancellationToken)).Segments);
        var rooted = await FlushAndDoneAsync(buffer, Now + 10);

        Assert.Equal(2, rooted.Segments.Count);
        var project1 = Assert.Single(rooted.Segments, s => s.ProjectId == 1);
        var project2 = Assert.Single(rooted.Segments, s => s.ProjectId == 2);
        Assert.Equal(SegmentKey(prefix, 1, trace, Id('a')), project1.SegmentKey);
        Assert.Equal(SegmentKey(prefix, 2, trace, Id('c')), project2.SegmentKey);
        AssertSegment(project1, [root1, child1], Id('a'), rootSpanId: Id('a'));
        AssertSegment(project2, [root2, child2], Id('c'), rootSpanId: Id('c'));
        Assert.All(project2.ToMessages(options.MaxSegmentBytes), m => Assert.Equal(2, m.ProjectId));

        Assert.Empty((await buffer.FlushSegmentsAsync(Now + 59, TestContext.Current.CancellationToken)).Segments);
        var rootless = await FlushAndDoneAsync(buffer, Now + 60);

        var orphan = Assert.Single(rootless.Segments);
        Assert.Equal(2, orphan.ProjectId);
        Assert.Equal(SegmentKey(prefix, 2, trace, Id('a')), orphan.SegmentKey);
        AssertSegment(orphan, [crossProject], Id('a'), rootSpanId: null);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_DetachedSegment_UsesTheSaltAsSegmentIdAndMarksNoSpan()
    {
        var prefix = NewKeyPrefix();
        var trace = NewTraceId();
        var root = Create(trace, Id('a'), null);
        var child = Create(trace, Id('b'), Id('a'));
        var late = Create(trace, Id('c'), Id('a'));
        var lateWithSegmentId = Create(trace, Id('d'), Id('c'), segmentId: Id('a'));
        var options = new SpanBufferOptions { KeyPrefix = prefix, MaxSegmentBytes = root.Payload.Length + child.Payload.Length };
        using var buffer = CreateBuffer(options);

        await buffer.ProcessSpansAsync([root, child], Now, TestContext.Current.CancellationToken);
        await buffer.ProcessSpansAsync([late, lateWithSegmentId], Now + 1, TestContext.Current.CancellationToken);

        var salt = SaltHasher.Compute(late.SpanId, lateWithSegmentId.SpanId);
        Assert.Empty((await buffer.FlushSegmentsAsync(Now + 9, TestContext.Current.CancellationToken)).Segments);
        var first = await FlushAndDoneAsync(buffer, Now + 10);
        var main = Assert.Single(first.Segments);
        AssertSegment(main, [root, child], Id('a'), rootSpanId: Id('a'));

        // The segment is larger than the limit once enriched: chunks, each marked skip_enrichment.
        var messages = main.ToMessages(options.MaxSegmentBytes);
        Assert.Equal(2, messages.Count);
        Assert.All(messages, m =>
        {
            Assert.True(m.SkipEnrichment);
            using var document = JsonDocument.Parse(m.ToArray());
            Assert.True(document.RootElement.GetProperty("skip_enrichment").GetBoolean());
            Assert.Single(document.RootElement.GetProperty("spans").EnumerateArray());
        });

        var second = await FlushAndDoneAsync(buffer, Now + 11);
        var detached = Assert.Single(second.Segments);
        Assert.Equal(SegmentKey(prefix, 1, trace, salt), detached.SegmentKey);
        Assert.Equal(salt, RootIdOf(detached));
        AssertEnriched(late, SpanById(detached, late.SpanId), salt, expectedIsSegment: false);
        AssertEnriched(lateWithSegmentId, SpanById(detached, lateWithSegmentId.SpanId), Id('a'), expectedIsSegment: false);
        Assert.False(detached.HasRootSpan);
        Assert.Empty(second.Losses);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Flush_CompressionOnAndOff_GiveIdenticalOutputSpans()
    {
        var trace = NewTraceId();
        Span[] first = [Create(trace, Id('a'), null), Create(trace, Id('b'), Id('a')), Create(trace, Id('c'), Id('b'))];
        Span[] second = [Create(trace, Id('d'), Id('a'), isSegment: false), Create(trace, Id('e'), Id('d'), segmentId: Id('a'))];

        async Task<(FlushedSegment Segment, RedisValue[] Stored)> RunAsync(string prefix, int compressionLevel)
        {
            using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, CompressionLevel = compressionLevel });
            await buffer.ProcessSpansAsync(first, Now, TestContext.Current.CancellationToken);
            await buffer.ProcessSpansAsync(second, Now, TestContext.Current.CancellationToken);
            var stored = new List<RedisValue>();
            foreach (var key in (await KeysAsync(prefix)).Where(k => k.StartsWith(prefix + ":s:", StringComparison.Ordinal)))
            {
                stored.AddRange(await Db.SetMembersAsync(key));
            }

            var result = await FlushAndDoneAsync(buffer, Now + 10);
            await AssertNoKeysLeftAsync(prefix);
            return (Assert.Single(result.Segments), stored.ToArray());
        }

        var (compressed, compressedMembers) = await RunAsync(NewKeyPrefix() + "-zstd", 0);
        var (raw, rawMembers) = await RunAsync(NewKeyPrefix() + "-raw", -1);

        // Compressed: one zstd frame per subsegment. Raw: one member per span, the original bytes.
        Assert.Equal(2, compressedMembers.Length);
        Assert.All(compressedMembers, m => Assert.True(((byte[]?)m)!.AsSpan().StartsWith((byte[])[0x28, 0xB5, 0x2F, 0xFD])));
        Assert.Equal(
            first.Concat(second).Select(s => Convert.ToHexString(s.Payload.Span)).Order(StringComparer.Ordinal),
            rawMembers.Select(m => Convert.ToHexString(((byte[]?)m)!)).Order(StringComparer.Ordinal));

        Assert.Equal(SpanIds(compressed), SpanIds(raw));
        foreach (var span in compressed.Spans)
        {
            Assert.Equal(span.Json.ToArray(), SpanById(raw, span.SpanId).Json.ToArray());
        }

        AssertSegment(raw, [.. first, .. second], Id('a'), rootSpanId: Id('a'));
    }

    [Fact]
    public async Task Flush_LegacyRawAndZstdMembersWrittenByHand_AreFlushed()
    {
        // Written the way the reference does: one raw payload per member (compression off), or one zstd frame of
        // payloads joined by 0x00; the member index lists salts; counters and queue entry set by hand.
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix });
        var trace = NewTraceId();
        var root = Create(trace, Id('a'), null);
        var child = Create(trace, Id('b'), Id('a'));
        var zstd1 = Create(trace, Id('c'), Id('a'));
        var zstd2 = Create(trace, Id('d'), Id('c'));
        var rawSalt = SaltHasher.Compute(root.SpanId, child.SpanId);
        var zstdSalt = SaltHasher.Compute(zstd1.SpanId, zstd2.SpanId);
        var pt = $"1:{trace}";
        var segmentKey = SegmentKey(prefix, 1, trace, root.SpanId);
        var rawKey = $"{prefix}:s:{{{pt}:{rawSalt}}}:{rawSalt}";
        var zstdKey = $"{prefix}:s:{{{pt}:{zstdSalt}}}:{zstdSalt}";
        using var compressor = new Compressor(3);
        var frame = compressor.Wrap([.. zstd1.Payload.Span, 0, .. zstd2.Payload.Span]).ToArray();

        await Db.SetAddAsync(rawKey, [root.Payload, child.Payload]);
        await Db.SetAddAsync(zstdKey, frame);
        await Db.SetAddAsync($"{prefix}:mk:{{{pt}}}:{root.SpanId}", [rawSalt, zstdSalt]);
        await Db.StringSetAsync($"{prefix}:ic:{segmentKey}", 4);
        await Db.StringSetAsync($"{prefix}:ibc:{segmentKey}", root.Payload.Length + child.Payload.Length + zstd1.Payload.Length + zstd2.Payload.Length);
        await Db.StringSetAsync($"{prefix}:hrs:{segmentKey}", "1");
        await Db.HashSetAsync($"{prefix}:ssr:{{{pt}}}", [new(root.SpanId, root.SpanId), new(child.SpanId, root.SpanId), new(zstd1.SpanId, root.SpanId), new(zstd2.SpanId, root.SpanId)]);
        await Db.SortedSetAddAsync(prefix + ":q:0", segmentKey, Now + 10);

        Assert.Empty((await buffer.FlushSegmentsAsync(Now + 9, TestContext.Current.CancellationToken)).Segments);
        var result = await FlushAndDoneAsync(buffer, Now + 10);

        var segment = Assert.Single(result.Segments);
        Assert.Equal(segmentKey, segment.SegmentKey);
        Assert.Equal(new[] { rawKey, zstdKey }.Order(StringComparer.Ordinal), segment.PayloadKeys.Order(StringComparer.Ordinal));
        AssertSegment(segment, [root, child, zstd1, zstd2], root.SpanId, rootSpanId: root.SpanId);
        Assert.Empty(result.Losses);
        Assert.Equal(0, result.Stats.DroppedSpans);
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task Flush_PayloadSetLargerThanPageSize_LoadsEverySpanAndCleansAllRedirects()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, CompressionLevel = -1, SegmentPageSize = 7 });
        var trace = NewTraceId();
        var root = Create(trace, Id('a'), null);
        var children = Enumerable.Range(0, 250).Select(i => Create(trace, $"c{i:x15}", root.SpanId)).ToArray();
        await buffer.ProcessSpansAsync([root, .. children], Now, TestContext.Current.CancellationToken);
        Assert.Equal(251, await Db.HashLengthAsync($"{prefix}:ssr:{{1:{trace}}}"));

        var result = await FlushAndDoneAsync(buffer, Now + 10);

        var segment = Assert.Single(result.Segments);
        Assert.Equal(SpanIds([root, .. children]), SpanIds(segment));
        Assert.Equal(1, segment.Spans.Count(s => s.IsSegment));
        Assert.All(segment.Spans, span => Assert.Equal(root.SpanId, SegmentIdOf(span)));
        Assert.Empty(result.Losses);
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task DoneFlushSegments_AfterMixedWorkload_LeavesNoKeys()
    {
        var prefix = NewKeyPrefix();
        var options = new SpanBufferOptions { KeyPrefix = prefix, FlushLockTtl = TimeSpan.FromSeconds(30), AssignedShards = [0, 1] };
        using var buffer = CreateBuffer(options);
        var chain = NewTraceId();
        var other = NewTraceId();
        var big = NewTraceId();

        // The reference's chain over four batches: d→c, c→b, b→a, a root (each child segment merges into its parent).
        await buffer.ProcessSpansAsync([Create(chain, Id('d'), Id('c'))], Now, TestContext.Current.CancellationToken);
        await buffer.ProcessSpansAsync([Create(chain, Id('c'), Id('b'))], Now + 1, TestContext.Current.CancellationToken);
        await buffer.ProcessSpansAsync([Create(chain, Id('b'), Id('a'))], Now + 2, TestContext.Current.CancellationToken);
        await buffer.ProcessSpansAsync([Create(chain, Id('a'), null)], Now + 3, TestContext.Current.CancellationToken);

        // A nested segment, an orphan and a second project in another trace, on partition 1.
        await buffer.ProcessSpansAsync(
            [
                Create(other, Id('a'), null, partition: 1),
                Create(other, Id('b'), Id('a'), isSegment: true, partition: 1),
                Create(other, Id('c'), Id('b'), partition: 1),
                Create(other, Id('e'), Id('f'), partition: 1),
                Create(other, Id('a'), null, projectId: 2, partition: 1),
            ],
            Now,
            TestContext.Current.CancellationToken);

        // Detached segments: a second buffer on the same keys with a small size limit; a stale child entry is
        // left behind when a child merges into a detached segment.
        var bigRoot = Create(big, Id('a'), null);
        var bigChild = Create(big, Id('b'), Id('a'));
        using (var small = CreateBuffer(new SpanBufferOptions { KeyPrefix = prefix, MaxSegmentBytes = bigRoot.Payload.Length + bigChild.Payload.Length }))
        {
            await small.ProcessSpansAsync([bigRoot, bigChild], Now, TestContext.Current.CancellationToken);
            await small.ProcessSpansAsync([Create(big, Id('d'), Id('c'))], Now, TestContext.Current.CancellationToken);
            await small.ProcessSpansAsync([Create(big, Id('c'), Id('a')), Create(big, Id('e'), Id('a'))], Now, TestContext.Current.CancellationToken);
        }

        Assert.NotEmpty(await KeysAsync(prefix));
        var result = await FlushAndDoneAsync(buffer, Now + 100);

        Assert.Equal(14, result.Stats.SpansFlushed);
        Assert.Equal(14, result.Segments.Sum(s => s.Spans.Count));
        Assert.Empty(result.Losses);
        await AssertNoKeysLeftAsync(prefix);
        Assert.Empty((await buffer.FlushSegmentsAsync(Now + 100, TestContext.Current.CancellationToken)).Segments);
    }
}

public sealed class SegmentFlushTestsOnStandalone(StandaloneRedisFixture fixture) : SegmentFlushTests(fixture);

public sealed class SegmentFlushTestsOnCluster(ClusterRedisFixture fixture) : SegmentFlushTests(fixture);
