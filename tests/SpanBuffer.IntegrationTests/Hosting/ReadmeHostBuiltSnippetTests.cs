using System.Text.Json;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;

namespace SpanBuffer.IntegrationTests.Hosting;

/// <summary>
/// The README's "Building segments and messages yourself" code, compiled and run on both topologies. The region between
/// <c>// README: host-built begin</c> and <c>// README: host-built end</c> is copied into the README verbatim.
/// </summary>
public abstract class ReadmeHostBuiltSnippetTests(RedisFixture fixture) : HostingTestBase(fixture)
{
    [Fact]
    public async Task HostBuiltSegment()
    {
        var options = new SpanBufferOptions { KeyPrefix = NewKeyPrefix() };
        using var buffer = new SpansBuffer(Redis, options);
        var sink = new RecordingSink();
        var cancellationToken = Ct;

        // README: host-built begin
        // OutputSpan.FromJson validates (one JSON object, string span_id, optional boolean is_segment), reads the ids and
        // removes insignificant whitespace without re-escaping; bad input throws InvalidSpanException naming the field.
        var segment = FlushedSegment.Create(
            new SegmentKey(42, "5b8efff798038103d269b633813fc60c", "a000000000000001"),
            [
                OutputSpan.FromJson("""{"span_id":"a000000000000001","is_segment":true,"name":"root"}"""),
                OutputSpan.FromJson("""{ "span_id": "b000000000000002", "parent_span_id": "a000000000000001" }"""),
            ],
            keyPrefix: options.KeyPrefix); // also shard: and sliceId:, formatted as the buffer formats its keys
        foreach (var message in segment.ToMessages(options.MaxSegmentBytes))
        {
            await sink.ProduceAsync(message, cancellationToken);
        }

        await buffer.DoneFlushSegmentsAsync([segment], cancellationToken); // cleaned the reference's way

        // A single message, e.g. with a fixed flush id for a deterministic test:
        var single = new SegmentMessage(42, segment.Spans, skipEnrichment: false, flushId: "test-1");

        // Reading a span back: on demand, nothing is cached on the flush path.
        string text = segment.Spans[0].ToJsonString();
        using JsonDocument document = segment.Spans[0].ParseJson();
        Utf8JsonReader reader = segment.Spans[0].CreateJsonReader();
        // README: host-built end

        Assert.True(reader.Read());
        Assert.Equal(["a000000000000001", "b000000000000002"], sink.DeliveredSpanIds);
        Assert.Equal("""{"span_id":"b000000000000002","parent_span_id":"a000000000000001"}""", segment.Spans[1].ToJsonString());
        Assert.Equal("root", document.RootElement.GetProperty("name").GetString());
        Assert.StartsWith("""{"span_id":"a000000000000001",""", text, StringComparison.Ordinal);
        Assert.Equal("test-1", single.FlushId);
        Assert.Empty(await KeysAsync(options.KeyPrefix));
    }
}

public sealed class ReadmeHostBuiltSnippetTestsOnStandalone(StandaloneRedisFixture fixture) : ReadmeHostBuiltSnippetTests(fixture);

public sealed class ReadmeHostBuiltSnippetTestsOnCluster(ClusterRedisFixture fixture) : ReadmeHostBuiltSnippetTests(fixture);
