using SpanBuffer.Ingest;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;
using SpanBuffer.Redis;
using static SpanBuffer.IntegrationTests.Ingest.SpanFactory;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>
/// The ingest script is called by its SHA1; a node that lost its script cache (restart, failover, SCRIPT FLUSH)
/// answers NOSCRIPT, and the call must then load the script and run, not fail the batch.
/// </summary>
public abstract class IngestScriptCacheTests(RedisFixture fixture) : IngestTestBase(fixture)
{
    [Fact]
    public async Task ProcessSpans_AfterScriptFlushOnEveryNode_ReloadsTheScriptAndMerges()
    {
        using var scope = NewScope();
        var a = Id('a');
        var b = Id('b');
        var c = Id('c');
        await scope.IngestAsync(0, Child(a, b), Child(c, a));

        // Other tests share the server; they recover the same way.
        foreach (var server in Fixture.Primaries)
        {
            await server.ScriptFlushAsync();
        }

        await scope.IngestAsync(1, Root(b));

        Assert.Equal(Sorted(a, b, c), await scope.SegmentSpanIdsAsync(b));
        Assert.Equal(3, await scope.GetNumberAsync(scope.IngestedCountKey(b)));
        var node = Fixture.Connection.GetServer(scope.Db.IdentifyEndpoint(ProjectAndTrace)!);
        Assert.True(await node.ScriptExistsAsync(LuaScripts.AddBuffer.Hash));
        await scope.AssertEveryKeyHasTtlAsync();
    }

    [Fact]
    public async Task ProcessSpans_ColdCacheAndRootInItsOwnScriptCall_KeepsTheRootTimeout()
    {
        // Root and children in separate script calls: on a cold cache every call answers NOSCRIPT and runs again;
        // the queue deadline must still be the root timeout, whatever order the re-runs complete in.
        using var scope = NewScope(options => options.MaxSpansPerScriptCall = 1);
        var b = Id('b');
        var children = "acdefgh".Select(Id).ToArray();
        foreach (var server in Fixture.Primaries)
        {
            await server.ScriptFlushAsync();
        }

        await scope.IngestAsync([.. children.Select(child => Child(child, b)), Root(b)], 100);

        Assert.Equal(Map((scope.SegmentKey(b), 100 + (long)scope.Options.RootTimeout.TotalSeconds)), await scope.QueueAsync());
        Assert.Equal(children.Length + 1, await scope.GetNumberAsync(scope.IngestedCountKey(b)));
    }

    [Fact]
    public async Task UpdateQueue_RootResultBeforeAChildResultOfTheSameSegment_KeepsTheRootTimeout()
    {
        // The order replies are listed in after re-runs: the root's call first, a child's call (which ran before
        // the root's, so saw no root) last.
        using var scope = NewScope();
        var b = Id('b');
        var subsegments = Subsegment.Build(SpanGrouper.GroupByParent([Root(b), Child(Id('a'), b)]), 0);
        var segmentKey = scope.SegmentKey(b);
        var inserted = new List<InsertedSubsegment>
        {
            new(subsegments[0], new AddBufferResult(segmentKey, HasRootSpan: true, DetachReason.None, [])),
            new(subsegments[^1], new AddBufferResult(segmentKey, HasRootSpan: false, DetachReason.None, [])),
        };
        var store = new RedisSpanStore(scope.Db, scope.Keys);

        await store.UpdateQueueAsync(inserted, 100, new QueueSettings(TimeoutSeconds: 60, RootTimeoutSeconds: 10, TtlSeconds: 3600, SliceId: null));

        Assert.Equal(Map((segmentKey, 110L)), await scope.QueueAsync());
    }

    [Fact]
    public async Task ProcessSpans_WhileAnotherClientFlushesTheScriptCacheNonStop_NeverFailsAndKeepsTheModelsSegments()
    {
        // The flushing client makes some calls of a batch answer NOSCRIPT while later ones run (the cache was
        // reloaded in between): those of a trace must still take effect in order, across overlapping calls too.
        using var flushing = new CancellationTokenSource();
        var flushes = 0;
        var flusher = Task.Run(
            async () =>
            {
                while (!flushing.IsCancellationRequested)
                {
                    foreach (var server in Fixture.Primaries)
                    {
                        await server.ScriptFlushAsync();
                        flushes++;
                    }
                }
            },
            TestContext.Current.CancellationToken);
        try
        {
            for (var seed = 0; seed < 40; seed++)
            {
                var random = new Random(20261207 + seed);
                var spans = RandomForest.Generate(random, maxTraces: 3, maxSpansPerTrace: 12);
                using var scope = NewScope(options =>
                {
                    options.MaxSegmentBytes = 0;
                    options.MaxSpansPerScriptCall = random.Next(1, 3);
                    options.AssignedShards = [0, 1, 2];
                });
                var batches = RandomForest.RandomBatches(random, spans, maxBatches: 4);
                await Task.WhenAll(batches.Select((batch, i) => scope.IngestAsync(batch, 1000 + i)));

                var flushed = await scope.Buffer.FlushSegmentsAsync(100_000, TestContext.Current.CancellationToken);
                var actual = flushed.Segments.ToDictionary(
                    segment => ModelOf(segment.SegmentKey),
                    segment => string.Join(",", segment.Spans.Select(span => span.SpanId).Order(StringComparer.Ordinal)));
                var expected = RandomForest.ExpectedSegments(spans).ToDictionary(
                    entry => entry.Key,
                    entry => string.Join(",", entry.Value));
                Assert.True(
                    expected.OrderBy(e => e.Key.ToString(), StringComparer.Ordinal).SequenceEqual(actual.OrderBy(e => e.Key.ToString(), StringComparer.Ordinal)),
                    $"seed {seed}: expected {string.Join("; ", expected)} but flushed {string.Join("; ", actual)}");
                Assert.Empty(flushed.Losses);
            }
        }
        finally
        {
            await flushing.CancelAsync();
            await flusher;
        }

        Assert.True(flushes > 0);
    }

    private static ModelSegment ModelOf(string segmentKey)
    {
        var key = SegmentKey.Parse(segmentKey);
        return new ModelSegment(key.ProjectId, key.TraceId, key.RootId);
    }
}

public sealed class IngestScriptCacheTestsOnStandalone(StandaloneRedisFixture fixture) : IngestScriptCacheTests(fixture);

public sealed class IngestScriptCacheTestsOnCluster(ClusterRedisFixture fixture) : IngestScriptCacheTests(fixture);
