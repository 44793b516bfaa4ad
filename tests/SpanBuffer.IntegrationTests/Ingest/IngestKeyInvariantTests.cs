using SpanBuffer.IntegrationTests.Infrastructure;
using static SpanBuffer.IntegrationTests.Ingest.SpanFactory;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>
/// Invariants of everything ingest writes: every key expires (reference §2.3), and every key the script touches
/// shares the slot of its declared key <c>project:trace</c>, while payload sets spread over other slots (§2.1).
/// </summary>
public abstract class IngestKeyInvariantTests(RedisFixture fixture) : IngestTestBase(fixture)
{
    [Fact]
    public async Task ProcessSpans_RandomWorkloadWithDetachesLocksChunksAndReplays_EveryKeyHasTtl()
    {
        using var scope = NewScope(options =>
        {
            options.MaxSegmentBytes = 300;
            options.MaxSpansPerScriptCall = 4;
            options.FlushLockTtl = TimeSpan.FromSeconds(10);
            options.CompressionLevel = 3;
            options.PipelineBatchSize = 5;
        });
        var random = new Random(7);
        var now = 0L;
        var locked = 0;
        for (var round = 0; round < 10; round++)
        {
            var spans = RandomForest.Generate(random, maxTraces: 3, maxSpansPerTrace: 30);
            var batches = RandomForest.RandomBatches(random, spans, maxBatches: 4);
            for (var i = 0; i < batches.Count; i++)
            {
                await scope.IngestAsync(batches[i], now++);
                if (i == 0)
                {
                    // A flusher takes one of the new segments: later spans for it detach.
                    var queued = await scope.QueueAsync(0);
                    if (queued.Count > 0)
                    {
                        var segment = queued.Keys.ElementAt(random.Next(queued.Count));
                        await scope.Db.StringSetAsync(scope.Keys.FlushLockKey(segment), "1", TimeSpan.FromSeconds(60));
                        locked++;
                    }
                }
            }

            if (round % 3 == 0)
            {
                await scope.IngestAsync(batches[^1], now++);
            }

            await scope.AssertEveryKeyHasTtlAsync();
        }

        // The workload did reach the detach paths: some queued segments are keyed by a salt.
        var payloadSalts = (await scope.AllKeysAsync())
            .Where(key => key.StartsWith(scope.Prefix + ":s:", StringComparison.Ordinal))
            .Select(key => key[(key.LastIndexOf(':') + 1)..])
            .ToHashSet(StringComparer.Ordinal);
        var queuedRoots = new List<string>();
        foreach (var shard in new[] { 0, 1, 2 })
        {
            queuedRoots.AddRange((await scope.QueueAsync(shard)).Keys.Select(key => Models.SegmentKey.Parse(key).RootId));
        }

        Assert.True(locked > 0);
        Assert.Contains(queuedRoots, payloadSalts.Contains);
    }

    [Fact]
    public async Task ProcessSpans_SeveralTraces_EveryScriptKeySharesTheDeclaredKeysSlot()
    {
        using var scope = NewScope(options =>
        {
            options.MaxSpansPerScriptCall = 1;
            options.MaxSegmentBytes = 200;
            options.FlushLockTtl = TimeSpan.FromSeconds(10);
        });
        var traces = Enumerable.Range(0, 4).Select(i => RandomForest.HexId(new Random(i), 32)).ToArray();
        var (r, a, b, c, d, e, w, x) = (Id('1'), Id('a'), Id('b'), Id('c'), Id('d'), Id('e'), Id('7'), Id('8'));
        var kinds = new HashSet<string>(StringComparer.Ordinal);
        var payloadKeys = new HashSet<string>(StringComparer.Ordinal);

        // A child segment x and a rooted segment r (three chunks).
        await IngestEveryTraceAsync(0, t => [Child(w, x, traceId: t), Root(r, traceId: t), Child(a, r, traceId: t), Child(b, r, traceId: t)]);
        await AssertSlotsAsync();

        // x arrives: its counters and index merge into r.
        await IngestEveryTraceAsync(1, t => [Child(x, r, traceId: t)]);
        await AssertSlotsAsync();

        // r is locked by a flusher: c goes to a detached segment keyed by its salt.
        foreach (var trace in traces)
        {
            var lockKey = scope.Keys.FlushLockKey(scope.SegmentKey(r, PT(trace)));
            await scope.Db.StringSetAsync(lockKey, "1", TimeSpan.FromSeconds(10));
        }

        await IngestEveryTraceAsync(2, t => [Child(c, r, traceId: t)]);
        await AssertSlotsAsync();
        foreach (var trace in traces)
        {
            await scope.Db.KeyDeleteAsync(scope.Keys.FlushLockKey(scope.SegmentKey(r, PT(trace))));
        }

        // r holds 150 bytes: d (40) still fits, e (40 more) detaches as too large.
        await IngestEveryTraceAsync(3, t => [Child(d, r, bytes: 40, traceId: t), Child(e, r, bytes: 40, traceId: t)]);
        await AssertSlotsAsync();

        var queued = await scope.QueueAsync();
        foreach (var trace in traces)
        {
            Assert.Equal(
                Sorted(scope.SegmentKey(r, PT(trace)), scope.SegmentKey(Salt(c), PT(trace)), scope.SegmentKey(Salt(e), PT(trace))),
                queued.Keys.Where(key => key.Contains(trace, StringComparison.Ordinal)));
            Assert.Equal(Sorted(r, a, b, w, x, d), await scope.SegmentSpanIdsAsync(r, PT(trace)));
        }

        Assert.Equal(Sorted("fl", "hrs", "ibc", "ic", "mk", "ss", "ssr"), Sorted(kinds));
        Assert.Equal(traces.Length * 8, payloadKeys.Count);
        if (Fixture.Topology == RedisTopology.Cluster)
        {
            // Payload sets have their own hash tag: they spread over other slots than the trace's.
            var payloadSlots = payloadKeys.Select(key => Redis.HashSlot(key)).ToHashSet();
            var traceSlots = traces.Select(trace => Redis.HashSlot(PT(trace))).ToHashSet();
            Assert.Contains(payloadSlots, slot => !traceSlots.Contains(slot));
            Assert.True(payloadSlots.Count > traces.Length, $"{payloadKeys.Count} payload keys used only {payloadSlots.Count} slots.");
        }

        async Task IngestEveryTraceAsync(long now, Func<string, Models.Span[]> spansOf) =>
            await scope.IngestAsync([.. traces.SelectMany(spansOf)], now);

        async Task AssertSlotsAsync()
        {
            var keys = await scope.AllKeysAsync();
            var lockKeys = traces.Select(trace => scope.Keys.FlushLockKey(scope.SegmentKey(r, PT(trace))));
            foreach (var key in keys.Concat(lockKeys))
            {
                var kind = key[(scope.Prefix.Length + 1)..key.IndexOf(':', scope.Prefix.Length + 1)];
                if (kind == "q")
                {
                    Assert.DoesNotContain('{', key);
                    continue;
                }

                var tag = HashTag(key);
                Assert.True(tag is not null, $"{key} has no hash tag.");
                if (kind == "s")
                {
                    // A payload set: {project:trace:salt}:salt.
                    var salt = key[(key.LastIndexOf(':') + 1)..];
                    Assert.Contains(traces, t => tag == $"{PT(t)}:{salt}");
                    Assert.Equal(32, salt.Length);
                    payloadKeys.Add(key);
                    continue;
                }

                // ssr, ss, mk, ic, ibc, hrs, fl: in the slot of the script's declared key, the bare project:trace.
                kinds.Add(kind);
                var trace = Assert.Single(traces, t => tag == PT(t));
                if (Fixture.Topology == RedisTopology.Cluster)
                {
                    Assert.Equal(Redis.HashSlot(PT(trace)), Redis.HashSlot(key));
                }
            }
        }
    }

    private static string PT(string traceId) => $"{ProjectId}:{traceId}";

    private static string Salt(string spanId) => SpanBuffer.Ingest.SaltHasher.Compute(spanId);

    /// <summary>The part of a key Redis Cluster hashes: between the first '{' and the next '}', when not empty.</summary>
    private static string? HashTag(string key)
    {
        var open = key.IndexOf('{', StringComparison.Ordinal);
        var close = open < 0 ? -1 : key.IndexOf('}', open + 1);
        return close > open + 1 ? key[(open + 1)..close] : null;
    }
}

public sealed class IngestKeyInvariantTestsOnStandalone(StandaloneRedisFixture fixture) : IngestKeyInvariantTests(fixture);

public sealed class IngestKeyInvariantTestsOnCluster(ClusterRedisFixture fixture) : IngestKeyInvariantTests(fixture);
