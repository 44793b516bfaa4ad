using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;

namespace SpanBuffer.IntegrationTests.Flush;

/// <summary>
/// Loss accounting closes (design "Beyond the reference"): over a random workload ingested in random batches, with
/// flushes interleaved at advancing clocks, flush locks on, small segment limits (detaches), and payload sets deleted
/// at random as if they had expired, every ingested span is either flushed exactly once or counted as dropped.
/// </summary>
public abstract class LossAccountingSoakTests(RedisFixture fixture) : FlushTestBase(fixture)
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task InterleavedIngestFlushAndExpiry_SpansIngested_EqualFlushedPlusDropped(int seed)
    {
        var random = new Random(seed);
        var prefix = NewKeyPrefix();
        var options = new SpanBufferOptions
        {
            KeyPrefix = prefix,
            AssignedShards = [0, 1],
            FlushLockTtl = TimeSpan.FromSeconds(30),
            MaxSegmentBytes = 6000,
            MaxFlushSegments = 7,
        };
        using var buffer = CreateBuffer(options);
        var spans = RandomWorkload(random, traces: 40);
        var flushed = new Dictionary<string, int>(StringComparer.Ordinal);
        long dropped = 0;
        var deletedPayloadSets = 0;
        var now = Now;

        async Task FlushAsync(long at)
        {
            var result = await FlushAndDoneAsync(buffer, at);
            foreach (var span in result.Segments.SelectMany(segment => segment.Spans))
            {
                flushed[span.SpanId] = flushed.GetValueOrDefault(span.SpanId) + 1;
            }

            Assert.DoesNotContain(result.Losses, loss => loss.Reason == SegmentLossReason.InvalidPayload);
            dropped += result.Losses.Where(loss => loss.Reason == SegmentLossReason.Dropped).Sum(loss => loss.Count);
        }

        for (var offset = 0; offset < spans.Count;)
        {
            var batch = spans.Skip(offset).Take(random.Next(1, 40)).ToList();
            offset += batch.Count;
            now += random.Next(0, 15);
            await buffer.ProcessSpansAsync(batch, now, TestContext.Current.CancellationToken);

            if (random.Next(4) == 0)
            {
                // A payload set vanishes (TTL expiry, eviction): its spans must come back as dropped, not disappear.
                var payloadSets = (await KeysAsync(prefix)).Where(key => key.StartsWith(prefix + ":s:", StringComparison.Ordinal)).ToList();
                if (payloadSets.Count > 0)
                {
                    await Db.KeyDeleteAsync(payloadSets[random.Next(payloadSets.Count)]);
                    deletedPayloadSets++;
                }
            }

            if (random.Next(3) == 0)
            {
                await FlushAsync(now);
            }
        }

        // Drain with a clock past every deadline.
        for (var round = 0; round < 100 && (await buffer.GetQueueSizesAsync(TestContext.Current.CancellationToken)).Sum(q => q.Segments) > 0; round++)
        {
            await FlushAsync(now + 3600);
        }

        Assert.True(deletedPayloadSets > 0, "the workload deleted no payload set");
        Assert.True(dropped > 0, "no span was reported dropped although payload sets were deleted");
        Assert.All(flushed, entry => Assert.Equal(1, entry.Value));
        Assert.Equal(spans.Count, flushed.Count + dropped);
        Assert.All(flushed.Keys, id => Assert.Contains(id, spans.Select(span => span.SpanId)));
    }

    /// <summary>Traces of a root, children and grandchildren (some nested segments), shuffled inside a small window.</summary>
    private static List<Span> RandomWorkload(Random random, int traces)
    {
        var spans = new List<Span>();
        var next = 1;
        string NewId() => (next++).ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
        for (var t = 0; t < traces; t++)
        {
            var traceId = random.Next(0, 1 << 30).ToString("x8", System.Globalization.CultureInfo.InvariantCulture) + IngestMessages.NewTraceId()[8..];
            var partition = random.Next(2);
            var root = NewId();
            var ids = new List<string> { root };
            spans.Add(IngestMessages.Create(traceId, root, null, projectId: 1 + (t % 3), isSegment: true, partition: partition));
            for (var i = random.Next(1, 25); i > 0; i--)
            {
                var id = NewId();
                var parent = ids[random.Next(ids.Count)];
                var nested = random.Next(10) == 0;
                spans.Add(IngestMessages.Create(traceId, id, parent, projectId: 1 + (t % 3), isSegment: nested ? true : null, partition: partition));
                ids.Add(id);
            }
        }

        // Children often arrive before their parents: shuffle within a sliding window.
        for (var i = spans.Count - 1; i > 0; i--)
        {
            var j = Math.Max(0, i - random.Next(0, 30));
            (spans[i], spans[j]) = (spans[j], spans[i]);
        }

        return spans;
    }
}

public sealed class LossAccountingSoakTestsOnStandalone(StandaloneRedisFixture fixture) : LossAccountingSoakTests(fixture);

public sealed class LossAccountingSoakTestsOnCluster(ClusterRedisFixture fixture) : LossAccountingSoakTests(fixture);
