using SpanBuffer.FaultTests.Infrastructure;
using SpanBuffer.IntegrationTests.Ingest;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;

namespace SpanBuffer.FaultTests;

/// <summary>Regression: a huge trace and a huge span flush completely.</summary>
public abstract class LargeDataTests(RedisFixture fixture) : FaultTestBase(fixture)
{
    [Fact]
    public async Task Trace50000Spans_FlushesAsOneCompleteSegment()
    {
        const int Spans = 50_000;
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(prefix);
        var ledger = new SpanLedger();
        var trace = Guid.NewGuid().ToString("N");
        var root = SpanFactory.Id('a');
        var spans = new List<Span>(Spans) { SpanFactory.Root(root, traceId: trace) };
        for (var i = 1; i < Spans; i++)
        {
            spans.Add(SpanFactory.Child(i.ToString("x16", System.Globalization.CultureInfo.InvariantCulture), root, traceId: trace));
        }

        await Buffers.IngestAsync(buffer, ledger, Workload.Batches(spans, 5000), Workload.Now);
        var result = await buffer.FlushSegmentsAsync(Workload.Now + 10, Buffers.Token);
        ledger.Deliver(result);
        await buffer.DoneFlushSegmentsAsync(result.Segments, Buffers.Token);

        var segment = Assert.Single(result.Segments);
        Assert.Equal(Spans, segment.Spans.Count);
        Assert.True(segment.HasRootSpan);
        ledger.AssertBalanced();
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task Span12MiB_FlushesIntact()
    {
        const int Bytes = 12 * 1024 * 1024;
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(prefix);
        var ledger = new SpanLedger();
        var trace = Guid.NewGuid().ToString("N");
        var root = SpanFactory.Id('a');
        Span[] spans = [SpanFactory.Root(root, traceId: trace), SpanFactory.Child(SpanFactory.Id('b'), root, Bytes, traceId: trace)];

        await Buffers.IngestAsync(buffer, ledger, [spans], Workload.Now);
        await Buffers.DrainAsync(buffer, ledger, Workload.AfterTimeout);

        ledger.AssertBalanced();
        await AssertNoKeysLeftAsync(prefix);
    }
}

public sealed class LargeDataTestsOnStandalone(StandaloneRedisFixture fixture) : LargeDataTests(fixture);

public sealed class LargeDataTestsOnCluster(ClusterRedisFixture fixture) : LargeDataTests(fixture);
