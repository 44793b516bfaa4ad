using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Ingest;
using static SpanBuffer.IntegrationTests.Ingest.SpanFactory;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>
/// The worked examples of reference §3.8, checked key by key. Expected key names are spelled out here rather
/// than built with <see cref="SpanBuffer.Redis.KeySchema"/>, so they also pin the reference's key formats.
/// </summary>
public abstract class IngestWorkedExampleTests(RedisFixture fixture) : IngestTestBase(fixture)
{
    private static readonly string A = Id('a');
    private static readonly string B = Id('b');
    private static readonly string C = Id('c');
    private static readonly string D = Id('d');

    [Fact]
    public async Task ProcessSpans_OneBatchWithRootLast_WritesOneRootedSegment()
    {
        using var scope = NewScope();
        var p = scope.Prefix;
        var pt = $"{{1:{TraceId}}}";

        await scope.IngestAsync(0, Child(A, B), Child(D, B), Child(C, B), Root(B));

        // One tree (1:T, b) in arrival order a, d, c, b: one chunk, one salt.
        var salt = SaltHasher.Compute(A, D, C, B);
        var segment = $"{p}:s:{pt}:{B}";
        var payloadKey = $"{p}:s:{{1:{TraceId}:{salt}}}:{salt}";
        await scope.AssertKeysAsync(
            $"{p}:ssr:{pt}",
            $"{p}:mk:{pt}:{B}",
            $"{p}:ic:{segment}",
            $"{p}:ibc:{segment}",
            $"{p}:hrs:{segment}",
            $"{p}:q:0",
            payloadKey);
        Assert.Equal(Map((A, B), (D, B), (C, B), (B, B)), await scope.RedirectsAsync());
        Assert.Equal([salt], await scope.MemberSaltsAsync(B));
        Assert.Equal(4, await scope.GetNumberAsync($"{p}:ic:{segment}"));
        Assert.Equal(120, await scope.GetNumberAsync($"{p}:ibc:{segment}"));
        Assert.Equal("1", (string?)await scope.Db.StringGetAsync($"{p}:hrs:{segment}"));
        Assert.Equal(Map((segment, 10L)), await scope.QueueAsync());

        var payloads = await scope.PayloadsAsync(payloadKey);
        Assert.Equal(
            [Payload(A), Payload(D), Payload(C), Payload(B)],
            payloads.Select(payload => payload.ToArray()).ToArray());
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_ChildThenRootInTwoBatches_MovesDeadlineToRootTimeout()
    {
        using var scope = NewScope();
        var p = scope.Prefix;
        var pt = $"{{1:{TraceId}}}";
        var segment = $"{p}:s:{pt}:{B}";
        var saltA = SaltHasher.Compute(A);
        var saltB = SaltHasher.Compute(B);

        await scope.IngestAsync(0, Child(A, B, bytes: 41));

        await scope.AssertKeysAsync(
            $"{p}:ssr:{pt}",
            $"{p}:mk:{pt}:{B}",
            $"{p}:ic:{segment}",
            $"{p}:ibc:{segment}",
            $"{p}:q:0",
            $"{p}:s:{{1:{TraceId}:{saltA}}}:{saltA}");
        Assert.Equal(Map((A, B)), await scope.RedirectsAsync());
        Assert.Equal([saltA], await scope.MemberSaltsAsync(B));
        Assert.Equal(1, await scope.GetNumberAsync($"{p}:ic:{segment}"));
        Assert.Equal(41, await scope.GetNumberAsync($"{p}:ibc:{segment}"));
        Assert.Equal(Map((segment, 60L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();

        await scope.IngestAsync(1, Root(B, bytes: 37));

        await scope.AssertKeysAsync(
            $"{p}:ssr:{pt}",
            $"{p}:mk:{pt}:{B}",
            $"{p}:ic:{segment}",
            $"{p}:ibc:{segment}",
            $"{p}:hrs:{segment}",
            $"{p}:q:0",
            $"{p}:s:{{1:{TraceId}:{saltA}}}:{saltA}",
            $"{p}:s:{{1:{TraceId}:{saltB}}}:{saltB}");
        Assert.Equal(Map((A, B), (B, B)), await scope.RedirectsAsync());
        Assert.Equal(Sorted(saltA, saltB), await scope.MemberSaltsAsync(B));
        Assert.Equal(2, await scope.GetNumberAsync($"{p}:ic:{segment}"));
        Assert.Equal(41 + 37, await scope.GetNumberAsync($"{p}:ibc:{segment}"));
        Assert.Equal("1", (string?)await scope.Db.StringGetAsync($"{p}:hrs:{segment}"));
        Assert.Equal(Map((segment, 11L)), await scope.QueueAsync());
        Assert.Equal(Sorted(A, B), await scope.SegmentSpanIdsAsync(B));
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_ChainOverFourBatches_MergesEachChildIntoItsParent()
    {
        using var scope = NewScope();
        var p = scope.Prefix;
        var pt = $"{{1:{TraceId}}}";
        string Segment(string root) => $"{p}:s:{pt}:{root}";
        string PayloadKey(string salt) => $"{p}:s:{{1:{TraceId}:{salt}}}:{salt}";
        string[] MetadataKeys(string root) => [$"{p}:mk:{pt}:{root}", $"{p}:ic:{Segment(root)}", $"{p}:ibc:{Segment(root)}"];
        var (bytesA, bytesB, bytesC, bytesD) = (30, 31, 33, 37);
        var (saltA, saltB, saltC, saltD) = (SaltHasher.Compute(A), SaltHasher.Compute(B), SaltHasher.Compute(C), SaltHasher.Compute(D));

        // d → c: segment c (no root yet).
        await scope.IngestAsync(0, Child(D, C, bytesD));

        await scope.AssertKeysAsync([$"{p}:ssr:{pt}", $"{p}:q:0", .. MetadataKeys(C), PayloadKey(saltD)]);
        Assert.Equal(Map((D, C)), await scope.RedirectsAsync());
        Assert.Equal([saltD], await scope.MemberSaltsAsync(C));
        Assert.Equal(1, await scope.GetNumberAsync($"{p}:ic:{Segment(C)}"));
        Assert.Equal(bytesD, await scope.GetNumberAsync($"{p}:ibc:{Segment(C)}"));
        Assert.Equal(Map((Segment(C), 60L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();

        // c → b: c's index and counters merge into b and are deleted; s:c leaves the queue.
        await scope.IngestAsync(1, Child(C, B, bytesC));

        await scope.AssertKeysAsync([$"{p}:ssr:{pt}", $"{p}:q:0", .. MetadataKeys(B), PayloadKey(saltD), PayloadKey(saltC)]);
        Assert.Equal(Map((D, C), (C, B)), await scope.RedirectsAsync());
        Assert.Equal(Sorted(saltC, saltD), await scope.MemberSaltsAsync(B));
        Assert.Equal(2, await scope.GetNumberAsync($"{p}:ic:{Segment(B)}"));
        Assert.Equal(bytesC + bytesD, await scope.GetNumberAsync($"{p}:ibc:{Segment(B)}"));
        Assert.Equal(Map((Segment(B), 61L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();

        // b → a: b merges into a.
        await scope.IngestAsync(2, Child(B, A, bytesB));

        await scope.AssertKeysAsync([$"{p}:ssr:{pt}", $"{p}:q:0", .. MetadataKeys(A), PayloadKey(saltD), PayloadKey(saltC), PayloadKey(saltB)]);
        Assert.Equal(Map((D, C), (C, B), (B, A)), await scope.RedirectsAsync());
        Assert.Equal(Sorted(saltB, saltC, saltD), await scope.MemberSaltsAsync(A));
        Assert.Equal(3, await scope.GetNumberAsync($"{p}:ic:{Segment(A)}"));
        Assert.Equal(bytesB + bytesC + bytesD, await scope.GetNumberAsync($"{p}:ibc:{Segment(A)}"));
        Assert.Equal(Map((Segment(A), 62L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();

        // a (root): the root flag is set and the deadline becomes 3 + 10.
        await scope.IngestAsync(3, Root(A, bytesA));

        await scope.AssertKeysAsync(
            [$"{p}:ssr:{pt}", $"{p}:q:0", .. MetadataKeys(A), $"{p}:hrs:{Segment(A)}",
             PayloadKey(saltD), PayloadKey(saltC), PayloadKey(saltB), PayloadKey(saltA)]);
        Assert.Equal(Map((D, C), (C, B), (B, A), (A, A)), await scope.RedirectsAsync());
        Assert.Equal(Sorted(saltA, saltB, saltC, saltD), await scope.MemberSaltsAsync(A));
        Assert.Equal(4, await scope.GetNumberAsync($"{p}:ic:{Segment(A)}"));
        Assert.Equal(bytesA + bytesB + bytesC + bytesD, await scope.GetNumberAsync($"{p}:ibc:{Segment(A)}"));
        Assert.Equal("1", (string?)await scope.Db.StringGetAsync($"{p}:hrs:{Segment(A)}"));
        Assert.Equal(Map((Segment(A), 13L)), await scope.QueueAsync());
        Assert.Equal(Sorted(A, B, C, D), await scope.SegmentSpanIdsAsync(A));
        await scope.AssertEveryKeyHasTtlAsync();
    }
}

public sealed class IngestWorkedExampleTestsOnStandalone(StandaloneRedisFixture fixture) : IngestWorkedExampleTests(fixture);

public sealed class IngestWorkedExampleTestsOnCluster(ClusterRedisFixture fixture) : IngestWorkedExampleTests(fixture);
