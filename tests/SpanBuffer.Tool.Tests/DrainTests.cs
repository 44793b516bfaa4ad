using System.Text.Json;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.IntegrationTests.Ingest;

namespace SpanBuffer.Tool.Tests;

public abstract class DrainTests(RedisFixture fixture) : ToolTestBase(fixture), IDisposable
{
    private readonly string _output = Path.Combine(Path.GetTempPath(), $"spanbuffer-drain-{Guid.NewGuid():N}.jsonl");

    public void Dispose()
    {
        File.Delete(_output);
        GC.SuppressFinalize(this);
    }

    /// <summary>Six segments over two shards, with deadlines well in the future; returns every span id ingested.</summary>
    private async Task<List<string>> IngestAsync()
    {
        var ids = new List<string>();
        using var buffer = NewBuffer();
        for (var i = 0; i < 6; i++)
        {
            // Span ids unique over the test (payloads carry only their span id); segment 3 has no root.
            var trace = NewTrace();
            var root = $"{i + 1:x2}{0:x14}";
            var spans = new List<Models.Span>();
            if (i != 3)
            {
                spans.Add(SpanFactory.Root(root, 40, trace, partition: i % 2));
            }

            for (var j = 1; j <= 2 + i; j++)
            {
                spans.Add(SpanFactory.Child($"{i + 1:x2}{j:x14}", root, 40, trace, partition: i % 2));
            }

            await buffer.ProcessSpansAsync(spans, Now, Token);
            ids.AddRange(spans.Select(s => s.SpanId));
        }

        return ids;
    }

    private List<string> DeliveredSpans()
    {
        var delivered = new List<string>();
        foreach (var line in File.ReadAllLines(_output))
        {
            using var message = JsonDocument.Parse(line);
            Assert.False(string.IsNullOrEmpty(message.RootElement.GetProperty("flush_id").GetString()));
            foreach (var span in message.RootElement.GetProperty("spans").EnumerateArray())
            {
                delivered.Add(span.GetProperty("span_id").GetString()!);
            }
        }

        return delivered;
    }

    private async Task<long> QueuedAsync() =>
        await Db.SortedSetLengthAsync(Keys.QueueKey(0, null)) + await Db.SortedSetLengthAsync(Keys.QueueKey(1, null));

    [Fact]
    public async Task Drain_DeliversEverySpanExactlyOnce_AndCleansUp()
    {
        var ingested = await IngestAsync();

        var run = await RunAsync("drain", "--shards", "2", "--output", _output, "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(ingested.Order(StringComparer.Ordinal), DeliveredSpans().Order(StringComparer.Ordinal));
        Assert.Equal(0, await QueuedAsync());
        var left = (await Fixture.GetKeysAsync(Prefix + ":*")).Where(k => !k.StartsWith(Prefix + ":hrs:", StringComparison.Ordinal)).ToList();
        Assert.True(left.Count == 0, string.Join(", ", left));
        var summary = run.Json();
        Assert.Equal(6, summary.GetProperty("segments").GetInt64());
        Assert.Equal(ingested.Count, summary.GetProperty("spans").GetInt64());
        Assert.Equal(0, summary.GetProperty("remaining_due").GetInt64());
    }

    [Fact]
    public async Task Drain_SmallMaxSegmentBytes_SplitsSegmentsIntoSeveralMessages_EachSpanStillOnce()
    {
        var ingested = await IngestAsync();

        var run = await RunAsync("drain", "--shards", "2", "--output", _output, "--max-segment-bytes", "100", "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        var lines = File.ReadAllLines(_output);
        Assert.True(lines.Length > 6, $"{lines.Length} messages");
        Assert.Contains(lines, l => l.Contains("\"skip_enrichment\":true", StringComparison.Ordinal));
        Assert.Equal(lines.Length, run.Json().GetProperty("messages").GetInt64());
        Assert.Equal(ingested.Order(StringComparer.Ordinal), DeliveredSpans().Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Drain_ToStdout_WritesOneJsonMessagePerLine_AndOnlyTheGivenShards()
    {
        var ingested = await IngestAsync();

        var run = await RunAsync("drain", "--shard-list", "1");

        Assert.True(run.ExitCode == 0, run.ToString());
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.All(lines, l => Assert.StartsWith("{\"flush_id\":\"", l, StringComparison.Ordinal));
        Assert.Contains("drained shards 1", run.Stderr, StringComparison.Ordinal);
        Assert.Equal(3, await Db.SortedSetLengthAsync(Keys.QueueKey(0, null)));
        Assert.Equal(0, await Db.SortedSetLengthAsync(Keys.QueueKey(1, null)));
    }

    [Fact]
    public async Task Drain_RefusesWhileAnotherFlusherHoldsALock_AndForceTakesOver()
    {
        var ingested = await IngestAsync();
        var member = (await Db.SortedSetRangeByRankAsync(Keys.QueueKey(0, null), 0, 0)).Single().ToString();
        await Db.StringSetAsync(Keys.FlushLockKey(member), "another-flusher", TimeSpan.FromSeconds(60));

        var refused = await RunAsync("drain", "--shards", "2", "--output", _output);

        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains("refusing to drain", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains(Keys.FlushLockKey(member), refused.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(_output));
        Assert.Equal(6, await QueuedAsync());

        var forced = await RunAsync("drain", "--shards", "2", "--output", _output, "--force");

        Assert.True(forced.ExitCode == 0, forced.ToString());
        Assert.Equal(ingested.Order(StringComparer.Ordinal), DeliveredSpans().Order(StringComparer.Ordinal));
        Assert.Equal(0, await QueuedAsync());
        Assert.False(await Db.KeyExistsAsync(Keys.FlushLockKey(member)));
    }
}

public sealed class DrainTestsOnStandalone(StandaloneRedisFixture fixture) : DrainTests(fixture);

public sealed class DrainTestsOnCluster(ClusterRedisFixture fixture) : DrainTests(fixture);
