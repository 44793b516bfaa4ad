using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Redis;
using Span = SpanBuffer.Models.Span;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>
/// Property test (design.md, "Beyond the reference"): with no flush in between and no size limit, the final
/// segments do not depend on arrival order or batch boundaries. Each case is a random forest in one or two
/// traces, ingested three times, each time in a random order cut into random batches at increasing <c>now</c> (and
/// with random chunking and compression), the third time with every batch in flight at once (overlapping calls
/// must apply in call order); every result must equal the in-memory model of the grouping rule, and so each other.
/// Seeded, so a failure names the case that reproduces it.
/// </summary>
public abstract class IngestOrderIndependenceTests(RedisFixture fixture) : IngestTestBase(fixture)
{
    private const int Cases = 200;
    private const int BaseSeed = 20260525;
    private static readonly int[] ChunkSizes = [0, 0, 1, 2, 5];

    [Fact]
    public async Task ProcessSpans_RandomOrderAndBatches_YieldsTheModelsSegments()
    {
        for (var i = 0; i < Cases; i++)
        {
            var seed = BaseSeed + i;
            var random = new Random(seed);
            var spans = RandomForest.Generate(random, maxTraces: 2, maxSpansPerTrace: 12);
            var expected = RandomForest.ExpectedSegments(spans);
            try
            {
                var first = await IngestInRandomOrderAsync(random, spans);
                var second = await IngestInRandomOrderAsync(random, spans);
                var overlapped = await IngestInRandomOrderAsync(random, spans, overlapping: true);

                Assert.Equal(Describe(expected), Describe(first));
                Assert.Equal(Describe(first), Describe(second));
                Assert.Equal(Describe(first), Describe(overlapped));
            }
            catch (Exception ex)
            {
                throw new InvalidOperationException(
                    $"Case {i} (seed {seed}) failed: {ex.Message}{Environment.NewLine}Spans:{Environment.NewLine}{RandomForest.Describe(spans)}",
                    ex);
            }
        }
    }

    /// <summary>
    /// Ingests the spans in a random order and batching, then reads the segments back as a flush would (queue →
    /// member index → payload keys → payloads), checks their counters, flags, redirects and the exact key set,
    /// and deletes what it wrote.
    /// </summary>
    private async Task<Dictionary<ModelSegment, SortedSet<string>>> IngestInRandomOrderAsync(Random random, List<Span> spans, bool overlapping = false)
    {
        var chunkSize = ChunkSizes[random.Next(ChunkSizes.Length)];
        var compression = random.Next(2) == 0 ? 0 : -1;
        using var scope = NewScope(
            options =>
            {
                options.MaxSegmentBytes = 0;
                options.MaxSpansPerScriptCall = chunkSize;
                options.CompressionLevel = compression;
            },
            nameof(ProcessSpans_RandomOrderAndBatches_YieldsTheModelsSegments));
        var batches = RandomForest.RandomBatches(random, spans, maxBatches: 4);
        var now = 1_000L;
        var inFlight = new List<Task>();
        foreach (var batch in batches)
        {
            var ingesting = scope.IngestAsync(batch, now);
            if (overlapping)
            {
                inFlight.Add(ingesting);
            }
            else
            {
                await ingesting;
            }

            now += random.Next(1, 4);
        }

        await Task.WhenAll(inFlight);

        // Everything is read concurrently: the multiplexer pipelines it.
        var partitions = spans.Select(s => s.Partition).Distinct().ToList();
        var traces = spans.Select(s => KeySchema.ProjectAndTrace(s.ProjectId, s.TraceId)).Distinct().ToList();
        var allKeys = scope.AllKeysAsync();
        var redirectsOf = traces.ToDictionary(pt => pt, pt => scope.RedirectsAsync(pt));
        var queues = partitions.Select(partition => scope.QueueAsync(partition)).ToList();
        var queued = new List<string>();
        foreach (var queue in queues)
        {
            queued.AddRange((await queue).Keys);
        }

        var stored = await Task.WhenAll(queued.Select(segmentKey => ReadSegmentAsync(scope, segmentKey)));

        var spansById = spans.ToDictionary(s => (s.ProjectId, s.TraceId, s.SpanId));
        var expectedKeys = new HashSet<string>(StringComparer.Ordinal);
        expectedKeys.UnionWith(partitions.Select(scope.QueueKey));
        expectedKeys.UnionWith(traces.Select(pt => scope.RedirectKey(pt)));
        expectedKeys.UnionWith(traces.Select(scope.Keys.StoredSaltsKey));
        var segments = new Dictionary<ModelSegment, SortedSet<string>>();
        foreach (var segment in stored)
        {
            var (project, trace, root) = segment.Key;
            var ids = new SortedSet<string>(segment.SpanIds, StringComparer.Ordinal);
            Assert.True(segments.TryAdd(new ModelSegment(project, trace, root), ids), $"{segment.SegmentKey} is queued twice.");
            Assert.True(ids.Count > 0, $"{segment.SegmentKey} is queued but empty.");
            Assert.True(ids.Count == segment.SpanIds.Count, $"{segment.SegmentKey} holds a span twice: {string.Join(", ", segment.SpanIds)}.");

            // Counters and the root flag agree with the segment's spans.
            var members = ids.Select(id => spansById[(project, trace, id)]).ToList();
            Assert.Equal(members.Count, segment.IngestedCount);
            Assert.Equal(members.Sum(s => (long)s.Payload.Length), segment.IngestedBytes);
            var rooted = members.Any(s => s.IsSegmentSpan && s.SpanId == root);
            Assert.Equal(rooted, segment.HasRootFlag);

            var pt = KeySchema.ProjectAndTrace(project, trace);
            expectedKeys.UnionWith([scope.MemberKeysKey(root, pt), scope.Keys.IngestedCountKey(segment.SegmentKey), scope.Keys.IngestedBytesKey(segment.SegmentKey)]);
            expectedKeys.UnionWith(segment.Salts.Select(salt => scope.PayloadKey(salt, pt)));
            if (rooted)
            {
                expectedKeys.Add(scope.Keys.HasRootKey(segment.SegmentKey));
            }
        }

        // Every span's redirect chain ends at its segment's root.
        foreach (var span in spans)
        {
            var redirects = await redirectsOf[KeySchema.ProjectAndTrace(span.ProjectId, span.TraceId)];
            var root = span.SpanId;
            for (var hops = 0; hops <= redirects.Count && redirects.TryGetValue(root, out var next) && next != root; hops++)
            {
                root = next;
            }

            Assert.True(
                segments.TryGetValue(new ModelSegment(span.ProjectId, span.TraceId, root), out var ids) && ids.Contains(span.SpanId),
                $"The redirects of {span.SpanId} lead to {root}, which is not its segment.");
        }

        // Nothing else: no orphaned payload sets, no metadata of merged children, no stale queue entries.
        var keys = await allKeys;
        Assert.Equal(expectedKeys.Order(StringComparer.Ordinal), keys);
        await scope.AssertEveryKeyHasTtlAsync(keys);
        await Task.WhenAll(keys.Select(key => scope.Db.KeyDeleteAsync(key)));
        return segments;
    }

    private static async Task<StoredSegment> ReadSegmentAsync(IngestScope scope, string segmentKey)
    {
        var key = Models.SegmentKey.Parse(segmentKey);
        var pt = KeySchema.ProjectAndTrace(key.ProjectId, key.TraceId);
        var salts = scope.MemberSaltsAsync(key.RootId, pt);
        var count = scope.GetNumberAsync(scope.Keys.IngestedCountKey(segmentKey));
        var bytes = scope.GetNumberAsync(scope.Keys.IngestedBytesKey(segmentKey));
        var hasRoot = scope.Db.KeyExistsAsync(scope.Keys.HasRootKey(segmentKey));
        var payloads = (await salts).Select(salt => scope.PayloadsAsync(scope.PayloadKey(salt, pt))).ToList();
        var ids = new List<string>();
        foreach (var payload in payloads)
        {
            ids.AddRange((await payload).Select(SpanFactory.SpanIdOf));
        }

        return new StoredSegment(segmentKey, key, await salts, ids, await count, await bytes, await hasRoot);
    }

    private static string Describe(Dictionary<ModelSegment, SortedSet<string>> segments) => string.Join(
        Environment.NewLine,
        segments.OrderBy(s => s.Key.ToString(), StringComparer.Ordinal).Select(s => $"{s.Key} = {{{string.Join(", ", s.Value)}}}"));
}

/// <summary>A queued segment as read back from Redis the way a flush reads it.</summary>
internal sealed record StoredSegment(
    string SegmentKey, Models.SegmentKey Key, string[] Salts, IReadOnlyList<string> SpanIds, long? IngestedCount, long? IngestedBytes, bool HasRootFlag);

public sealed class IngestOrderIndependenceTestsOnStandalone(StandaloneRedisFixture fixture) : IngestOrderIndependenceTests(fixture);

public sealed class IngestOrderIndependenceTestsOnCluster(ClusterRedisFixture fixture) : IngestOrderIndependenceTests(fixture);
