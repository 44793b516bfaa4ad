using SpanBuffer.IntegrationTests.Infrastructure;
using static SpanBuffer.IntegrationTests.Ingest.SpanFactory;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>Queue deadlines (reference §1.1, §3.6): now + timeout, or now + root timeout once a root arrived.</summary>
public abstract class IngestDeadlineTests(RedisFixture fixture) : IngestTestBase(fixture)
{
    private static readonly string A = Id('a');
    private static readonly string B = Id('b');
    private static readonly string C = Id('c');

    [Fact]
    public async Task ProcessSpans_RootArrivesAfterChildren_MovesDeadlineEarlierToRootTimeout()
    {
        using var scope = NewScope();
        var segment = scope.SegmentKey(B);

        await scope.IngestAsync(100, Child(A, B));
        Assert.Equal(Map((segment, 160L)), await scope.QueueAsync());

        await scope.IngestAsync(105, Root(B));
        Assert.Equal(Map((segment, 115L)), await scope.QueueAsync());

        // Once the root flag exists, a later child keeps the root timeout.
        await scope.IngestAsync(107, Child(C, B));
        Assert.Equal(Map((segment, 117L)), await scope.QueueAsync());
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_MoreSpansWithoutRoot_PushesDeadlineLater()
    {
        using var scope = NewScope();
        var segment = scope.SegmentKey(B);

        await scope.IngestAsync(100, Child(A, B));
        await scope.IngestAsync(130, Child(C, B));

        Assert.Equal(Map((segment, 190L)), await scope.QueueAsync());
    }

    [Fact]
    public async Task ProcessSpans_CustomTimeouts_UsesOptions()
    {
        using var scope = NewScope(options =>
        {
            options.Timeout = TimeSpan.FromSeconds(45);
            options.RootTimeout = TimeSpan.FromSeconds(3);
            options.SliceId = 7;
        });
        var segment = scope.SegmentKey(B);

        await scope.IngestAsync(1_000, Child(A, B, partition: 2));
        Assert.Equal($"{scope.Prefix}:q:7-2", scope.QueueKey(2));
        Assert.Equal(Map((segment, 1_045L)), await scope.QueueAsync(2));

        await scope.IngestAsync(1_001, Root(B, partition: 2));
        Assert.Equal(Map((segment, 1_004L)), await scope.QueueAsync(2));
        Assert.Equal(Sorted(scope.QueueKey(2)), (await scope.AllKeysAsync()).Where(key => key.Contains(":q:", StringComparison.Ordinal)));
    }
}

public sealed class IngestDeadlineTestsOnStandalone(StandaloneRedisFixture fixture) : IngestDeadlineTests(fixture);

public sealed class IngestDeadlineTestsOnCluster(ClusterRedisFixture fixture) : IngestDeadlineTests(fixture);
