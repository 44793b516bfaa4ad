using SpanBuffer.FaultTests.Infrastructure;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;
using StackExchange.Redis;

namespace SpanBuffer.FaultTests;

/// <summary>
/// The script cache of a node can vanish at any moment (restart, failover, <c>SCRIPT FLUSH</c>). Ingest must reload
/// the script instead of failing, and a reload must not change what the script calls of one batch compute.
/// </summary>
public abstract class ScriptCacheLossTests : PrivateRedisTestBase
{
    [Fact]
    public async Task ScriptFlushInATightLoop_NoProcessSpansCallThrows_AndTheLedgerCloses()
    {
        var prefix = NewKeyPrefix();
        using var buffer = CreateBuffer(Buffers.Options(prefix));
        var ledger = new SpanLedger();
        var batches = Enumerable.Range(0, 12).SelectMany(_ => Workload.Batches(Workload.Load(), 8)).ToArray();

        await using var flusherConnection = await Redis.OpenConnectionAsync();
        var primaries = Redis.Primaries.Select(p => flusherConnection.GetServer(p.EndPoint)).ToArray();
        using var stop = new CancellationTokenSource();
        var scriptFlushes = 0L;
        var loops = Enumerable.Range(0, 4).Select(_ => Task.Run(
            async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    await Task.WhenAll(primaries.Select(p => p.ScriptFlushAsync()));
                    Interlocked.Increment(ref scriptFlushes);
                }
            },
            Buffers.Token)).ToArray();

        var failures = new List<string>();
        foreach (var batch in batches)
        {
            try
            {
                await buffer.ProcessSpansAsync(batch, Workload.Now, Buffers.Token);
            }
            catch (RedisException ex)
            {
                // A consumer would replay the batch; so does the test (after the assertion below fails, the ledger still closes).
                failures.Add($"{ex.GetType().Name}: {ex.Message.Split('\n')[0]}");
                await buffer.ProcessSpansAsync(batch, Workload.Now, Buffers.Token);
            }

            ledger.Ingest(batch);
        }

        await stop.CancelAsync();
        await Task.WhenAll(loops);
        await Buffers.DrainAsync(buffer, ledger, Workload.AfterTimeout);

        TestContext.Current.SendDiagnosticMessage($"{scriptFlushes} SCRIPT FLUSH rounds, {failures.Count} of {batches.Length} calls threw; {ledger}");
        Assert.True(scriptFlushes > 0);
        Assert.True(failures.Count == 0, $"{failures.Count} of {batches.Length} ProcessSpansAsync calls threw during {scriptFlushes} SCRIPT FLUSH rounds, first: {failures.FirstOrDefault()}");
        ledger.AssertBalanced(allowCountedLosses: false);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ColdScriptCache_RootAndChildrenInSeparateScriptCalls_DeadlineIsTheRootTimeout(bool childrenFirst)
    {
        var prefix = NewKeyPrefix();
        var options = Buffers.Options(prefix);
        options.MaxSpansPerScriptCall = 2;
        using var buffer = CreateBuffer(options);
        var ledger = new SpanLedger();
        var trace = Guid.NewGuid().ToString("N");
        var root = IntegrationTests.Ingest.SpanFactory.Id('a');
        var children = "bcdefg".Select(c => IntegrationTests.Ingest.SpanFactory.Child(IntegrationTests.Ingest.SpanFactory.Id(c), root, traceId: trace)).ToArray();
        var rootSpan = IntegrationTests.Ingest.SpanFactory.Root(root, traceId: trace);
        Span[] batch = childrenFirst ? [.. children, rootSpan] : [rootSpan, .. children];

        await ScriptFlushEverywhereAsync();
        await Buffers.IngestAsync(buffer, ledger, [batch], Workload.Now);

        var segmentKey = new SegmentKey(1, trace, root).Format(prefix);
        var deadline = await Redis.Db.SortedSetScoreAsync(prefix + ":q:0", segmentKey);
        Assert.Equal(Workload.Now + (long)options.RootTimeout.TotalSeconds, (long?)deadline);

        var result = await Buffers.FlushAndDoneAsync(buffer, ledger, Workload.Now + (long)options.RootTimeout.TotalSeconds);
        var segment = Assert.Single(result.Segments);
        Assert.Equal(batch.Length, segment.Spans.Count);
        await Buffers.DrainAsync(buffer, ledger, Workload.AfterTimeout + 3600);
        ledger.AssertBalanced();
        await AssertNoKeysLeftAsync(prefix);
    }

    [Fact]
    public async Task ColdScriptCache_WorkloadInTwoSpanScriptCalls_NoStaleEmptySegmentsAndRootDeadlines()
    {
        var prefix = NewKeyPrefix();
        var options = Buffers.Options(prefix);
        options.MaxSpansPerScriptCall = 2;
        var ledger = new SpanLedger();
        var spans = Workload.Load();

        // The same workload on a warm cache gives the expected queue; then a cold cache must give the same.
        var warmPrefix = NewKeyPrefix();
        var warmOptions = Buffers.Options(warmPrefix);
        warmOptions.MaxSpansPerScriptCall = 2;
        using var warm = CreateBuffer(warmOptions);
        using (var warmUp = CreateBuffer(Buffers.Options(NewKeyPrefix())))
        {
            await warmUp.ProcessSpansAsync(Workload.Load(), Workload.Now, Buffers.Token);
        }

        await warm.ProcessSpansAsync(spans, Workload.Now, Buffers.Token);
        var expected = await QueueAsync(warmPrefix);

        using var buffer = CreateBuffer(options);
        await ScriptFlushEverywhereAsync();
        await Buffers.IngestAsync(buffer, ledger, [spans], Workload.Now);
        var actual = await QueueAsync(prefix);

        long empty = 0;
        for (var round = 0; round < 20; round++)
        {
            var result = await Buffers.FlushAndDoneAsync(buffer, ledger, Workload.AfterTimeout);
            empty += result.Stats.EmptySegments;
            if (result.Stats.Candidates == 0)
            {
                break;
            }
        }

        var differing = actual.Except(expected).ToArray();
        Assert.True(
            differing.Length == 0 && empty == 0,
            $"Cold cache: {differing.Length} of {expected.Length} queue entries differ from a warm-cache ingest (e.g. '{differing.FirstOrDefault()}' " +
            $"instead of '{expected.Except(actual).FirstOrDefault()}'), {empty} empty segments flushed.");
        ledger.AssertBalanced();
        await AssertNoKeysLeftAsync(prefix);
    }

    /// <summary>The queue entries of every shard, with the prefix stripped so two prefixes compare.</summary>
    private async Task<string[]> QueueAsync(string prefix)
    {
        var entries = new List<string>();
        for (var shard = 0; shard < Workload.Shards; shard++)
        {
            foreach (var entry in await Redis.Db.SortedSetRangeByRankWithScoresAsync($"{prefix}:q:{shard}"))
            {
                entries.Add($"{shard} {((string)entry.Element!)[prefix.Length..]} {entry.Score}");
            }
        }

        return [.. entries.Order(StringComparer.Ordinal)];
    }
}

public sealed class ScriptCacheLossTestsOnStandalone : ScriptCacheLossTests
{
    private protected override RedisTopology Topology => RedisTopology.Standalone;
}

public sealed class ScriptCacheLossTestsOnCluster : ScriptCacheLossTests
{
    private protected override RedisTopology Topology => RedisTopology.Cluster;
}
