using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Ingest;
using static SpanBuffer.IntegrationTests.Ingest.SpanFactory;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>Payload writes (reference §3.2, §3.4): empty batches, compression on and off, chunking.</summary>
public abstract class IngestPayloadTests(RedisFixture fixture) : IngestTestBase(fixture)
{
    private static readonly byte[] ZstdMagic = [0x28, 0xB5, 0x2F, 0xFD];
    private static readonly string A = Id('a');
    private static readonly string B = Id('b');
    private static readonly string C = Id('c');

    [Fact]
    public async Task ProcessSpans_EmptyBatch_WritesNothing()
    {
        using var scope = NewScope();

        await scope.IngestAsync(0);

        Assert.Empty(await scope.AllKeysAsync());
    }

    [Fact]
    public async Task ProcessSpans_NullElement_ThrowsArgumentExceptionAndWritesNothing()
    {
        using var scope = NewScope();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => scope.Buffer.ProcessSpansAsync([Root(B, bytes: 30), null!], 0, TestContext.Current.CancellationToken));

        Assert.Equal("spans", error.ParamName);
        Assert.Empty(await scope.AllKeysAsync());
    }

    [Fact]
    public async Task ProcessSpans_CompressionOff_StoresOneRawMemberPerPayload()
    {
        using var scope = NewScope(options => options.CompressionLevel = -1);

        await scope.IngestAsync(0, Root(B, bytes: 30), Child(A, B, bytes: 40), Child(C, B, bytes: 50));

        var payloadKey = scope.PayloadKey(SaltHasher.Compute(B, A, C));
        var members = (await scope.Db.SetMembersAsync(payloadKey)).Select(member => (byte[])member!).ToList();
        Assert.Equal(3, members.Count);
        Assert.All(members, member => Assert.False(member.AsSpan().StartsWith(ZstdMagic)));
        Assert.Equal(
            Sorted(Convert.ToHexString(Payload(B, 30)), Convert.ToHexString(Payload(A, 40)), Convert.ToHexString(Payload(C, 50))),
            Sorted(members.Select(Convert.ToHexString)));
        Assert.Equal(120, await scope.GetNumberAsync(scope.IngestedBytesKey(B)));
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_CompressionOn_StoresOneZstdMemberPerSubsegment()
    {
        using var scope = NewScope();

        await scope.IngestAsync(0, Root(B, bytes: 30), Child(A, B, bytes: 40), Child(C, B, bytes: 50));

        var payloadKey = scope.PayloadKey(SaltHasher.Compute(B, A, C));
        var member = (byte[])(await scope.Db.SetMembersAsync(payloadKey)).Single()!;
        Assert.True(member.AsSpan().StartsWith(ZstdMagic));
        Assert.Equal(
            [Payload(B, 30), Payload(A, 40), Payload(C, 50)],
            (await scope.PayloadsAsync(payloadKey)).Select(payload => payload.ToArray()).ToArray());

        // The byte counter counts raw payload bytes, not compressed ones.
        Assert.Equal(120, await scope.GetNumberAsync(scope.IngestedBytesKey(B)));
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_TreeLargerThanMaxSpansPerScriptCall_ChunksIntoOneSegment()
    {
        using var scope = NewScope(options => options.MaxSpansPerScriptCall = 3);
        var r = Id('f');
        var (c1, c2, c3) = (Id('1'), Id('2'), Id('3'));
        var (g1, g2, g3, g4, g5, g6) = (Id('4'), Id('5'), Id('6'), Id('7'), Id('8'), Id('9'));

        // Every span joins r's tree in arrival order (each child's parent redirects to r by the time it arrives).
        await scope.IngestAsync(
            0,
            Child(g1, c1), Child(c1, r), Child(g2, c1), Child(c2, r), Child(g3, c2),
            Child(g4, c2), Child(c3, r), Child(g5, c3), Child(g6, c3), Root(r));

        string[] salts =
        [
            SaltHasher.Compute(g1, c1, g2),
            SaltHasher.Compute(c2, g3, g4),
            SaltHasher.Compute(c3, g5, g6),
            SaltHasher.Compute(r),
        ];
        await scope.AssertKeysAsync(
            [
                scope.RedirectKey(), scope.QueueKey(), scope.MemberKeysKey(r), scope.IngestedCountKey(r),
                scope.IngestedBytesKey(r), scope.HasRootKey(r), .. salts.Select(salt => scope.PayloadKey(salt)),
            ]);
        Assert.Equal(Sorted(salts), await scope.MemberSaltsAsync(r));
        Assert.Equal(10, await scope.GetNumberAsync(scope.IngestedCountKey(r)));
        Assert.Equal(300, await scope.GetNumberAsync(scope.IngestedBytesKey(r)));
        Assert.Equal(Sorted(r, c1, c2, c3, g1, g2, g3, g4, g5, g6), await scope.SegmentSpanIdsAsync(r));
        Assert.Equal(Map((scope.SegmentKey(r), 10L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();
    }
}

public sealed class IngestPayloadTestsOnStandalone(StandaloneRedisFixture fixture) : IngestPayloadTests(fixture);

public sealed class IngestPayloadTestsOnCluster(ClusterRedisFixture fixture) : IngestPayloadTests(fixture);
