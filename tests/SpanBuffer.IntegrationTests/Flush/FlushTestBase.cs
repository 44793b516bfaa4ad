using System.Text.Json;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;
using SpanBuffer.Redis;

namespace SpanBuffer.IntegrationTests.Flush;

/// <summary>Helpers shared by the flush tests: buffers on the fixture's Redis, key listings and output checks.</summary>
public abstract class FlushTestBase(RedisFixture fixture) : RedisTestBase(fixture)
{
    /// <summary>The ingest clock of most tests (integer Unix seconds); flushes are at offsets from it.</summary>
    protected const long Now = 1_700_000_000;

    protected SpansBuffer CreateBuffer(SpanBufferOptions options) => new(Redis, options);

    private protected RedisSpanStore CreateStore(string prefix) => new(Db, new KeySchema(prefix));

    /// <summary>Every key of the test (glob <c>prefix:*</c>) on every primary.</summary>
    protected Task<IReadOnlyList<string>> KeysAsync(string prefix) => Fixture.GetKeysAsync(prefix + ":*");

    /// <summary>
    /// Asserts that the test left no keys behind. Has-root flags are tolerated (the reference's tests do), but only
    /// they: any other key means cleanup missed something.
    /// </summary>
    protected async Task AssertNoKeysLeftAsync(string prefix)
    {
        var keys = await KeysAsync(prefix);
        Assert.All(keys, key => Assert.Contains(":hrs:", key, StringComparison.Ordinal));
    }

    /// <summary>Flushes at <paramref name="now"/>, hands everything to cleanup, and returns what was flushed.</summary>
    protected static async Task<FlushResult> FlushAndDoneAsync(SpansBuffer buffer, long now)
    {
        var result = await buffer.FlushSegmentsAsync(now, TestContext.Current.CancellationToken);
        await buffer.DoneFlushSegmentsAsync(result.Segments, TestContext.Current.CancellationToken);
        return result;
    }

    protected static string SegmentKey(string prefix, long projectId, string traceId, string rootId) =>
        new SegmentKey(projectId, traceId, rootId).Format(prefix);

    protected static string RootIdOf(FlushedSegment segment) => Models.SegmentKey.Parse(segment.SegmentKey).RootId;

    protected static JsonElement Parse(OutputSpan span) => IngestMessages.Parse(span.Json);

    protected static OutputSpan SpanById(FlushedSegment segment, string spanId) =>
        Assert.Single(segment.Spans, s => s.SpanId == spanId);

    /// <summary>The value of <c>attributes["sentry.segment.id"]</c> of an output span.</summary>
    protected static string? SegmentIdOf(OutputSpan span) =>
        Parse(span).GetProperty("attributes").GetProperty("sentry.segment.id").GetProperty("value").GetString();

    protected static bool IsSegmentOf(OutputSpan span) => Parse(span).GetProperty("is_segment").GetBoolean();

    /// <summary>The segment whose root (last component of the segment key) is <paramref name="rootId"/>.</summary>
    protected static FlushedSegment SegmentByRoot(IEnumerable<FlushedSegment> segments, string rootId) =>
        Assert.Single(segments, s => RootIdOf(s) == rootId);

    /// <summary>Span ids of a segment, sorted, for order-independent comparison.</summary>
    protected static string[] SpanIds(FlushedSegment segment) =>
        segment.Spans.Select(s => s.SpanId).Order(StringComparer.Ordinal).ToArray();

    protected static string[] SpanIds(IEnumerable<Span> spans) =>
        spans.Select(s => s.SpanId).Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Asserts the enrichment of one output span against its input: the output is compact JSON; every input member
    /// other than <c>is_segment</c> and <c>attributes</c> is kept with its exact bytes and in its place; every input
    /// attribute is kept; <c>is_segment</c> and the segment id are as expected.
    /// </summary>
    protected static void AssertEnriched(Span input, OutputSpan output, string expectedSegmentId, bool expectedIsSegment)
    {
        Assert.Equal(input.SpanId, output.SpanId);
        Assert.Equal(expectedIsSegment, output.IsSegment);

        var inputJson = IngestMessages.Parse(input.Payload);
        var outputJson = Parse(output);
        AssertCompact(output.Json.Span);

        var inputMembers = inputJson.EnumerateObject().Select(p => p.Name).ToArray();
        var outputMembers = outputJson.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(inputMembers, outputMembers.Take(inputMembers.Length));
        foreach (var member in inputJson.EnumerateObject())
        {
            if (member.Name is "is_segment" or "attributes")
            {
                continue;
            }

            Assert.Equal(member.Value.GetRawText(), outputJson.GetProperty(member.Name).GetRawText());
        }

        Assert.Equal(expectedIsSegment, outputJson.GetProperty("is_segment").GetBoolean());
        var attributes = outputJson.GetProperty("attributes");
        foreach (var attribute in inputJson.GetProperty("attributes").EnumerateObject())
        {
            Assert.True(JsonElement.DeepEquals(attribute.Value, attributes.GetProperty(attribute.Name)), attribute.Name);
        }

        var segmentId = attributes.GetProperty("sentry.segment.id");
        Assert.Equal("string", segmentId.GetProperty("type").GetString());
        Assert.Equal(expectedSegmentId, segmentId.GetProperty("value").GetString());
    }

    /// <summary>Asserts a flushed segment holds exactly <paramref name="inputs"/>, enriched for <paramref name="segmentId"/>.</summary>
    protected static void AssertSegment(FlushedSegment segment, IReadOnlyList<Span> inputs, string segmentId, string? rootSpanId)
    {
        Assert.Equal(SpanIds(inputs), SpanIds(segment));
        foreach (var input in inputs)
        {
            var expectedSegmentId = input.SegmentId ?? segmentId;
            AssertEnriched(input, SpanById(segment, input.SpanId), expectedSegmentId, input.SpanId == rootSpanId);
        }

        Assert.Equal(rootSpanId is not null, segment.HasRootSpan);
    }

    /// <summary>Asserts there is no whitespace outside JSON strings.</summary>
    protected static void AssertCompact(ReadOnlySpan<byte> json)
    {
        var inString = false;
        for (var i = 0; i < json.Length; i++)
        {
            var b = json[i];
            if (inString)
            {
                if (b == (byte)'\\')
                {
                    i++;
                }
                else if (b == (byte)'"')
                {
                    inString = false;
                }
            }
            else if (b == (byte)'"')
            {
                inString = true;
            }
            else
            {
                Assert.False(b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r', $"Whitespace at offset {i} outside a string.");
            }
        }
    }
}
