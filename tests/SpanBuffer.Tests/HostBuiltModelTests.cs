using System.Text;
using System.Text.Json;
using SpanBuffer.Models;
using SpanBuffer.Redis;

namespace SpanBuffer.Tests;

/// <summary>
/// The public factories and readers a host uses to build spans, segments and messages itself (sink tests, spans it
/// holds): <see cref="OutputSpan.FromJson(string)"/>, <see cref="FlushedSegment.Create"/>, <see cref="FlushedSegment.FromKeys"/>
/// and the public <see cref="SegmentMessage"/> constructor, with their invalid input.
/// </summary>
public sealed class HostBuiltModelTests
{
    private const string Root = """{"span_id":"a000000000000001","is_segment":true,"name":"caf\u00e9 \"quoted\""}""";
    private const string Child = """{"span_id":"b000000000000002","parent_span_id":"a000000000000001"}""";
    private static readonly SegmentKey s_segment = new(42, "5b8efff798038103d269b633813fc60c", "a000000000000001");

    [Fact]
    public void FromJson_CompactObject_ReadsIdsAndKeepsTheBytesWithoutCopy()
    {
        var bytes = Encoding.UTF8.GetBytes(Root);

        var span = OutputSpan.FromJson(bytes);

        Assert.Equal("a000000000000001", span.SpanId);
        Assert.True(span.IsSegment);
        Assert.True(span.Json.Span == bytes.AsSpan(), "a compact input is used as it is");
        Assert.Equal(Root, span.ToJsonString());
    }

    [Fact]
    public void FromJson_IndentedText_RemovesWhitespaceOutsideStringsOnly()
    {
        var span = OutputSpan.FromJson("""
            {
              "span_id" : "b000000000000002",
              "name": "a \" b\t c",
              "data": [ 1, { "x" : null } ],
              "is_segment": false
            }
            """);

        Assert.Equal("""{"span_id":"b000000000000002","name":"a \" b\t c","data":[1,{"x":null}],"is_segment":false}""", span.ToJsonString());
        Assert.False(span.IsSegment);
    }

    [Theory]
    [InlineData("""{"span_id":"s1"}""", false)]
    [InlineData("""{"span_id":"s1","is_segment":null}""", false)]
    [InlineData("""{"is_segment":true,"span_id":"s0","span_id":"s1"}""", true)]
    [InlineData("""{"nested":{"span_id":"x","is_segment":true},"span_id":"s1"}""", false)]
    [InlineData("""{"span_id":"s\u0031"}""", false)]
    public void FromJson_IdVariants_TopLevelLastValueCounts(string json, bool isSegment)
    {
        var span = OutputSpan.FromJson(json);

        Assert.Equal("s1", span.SpanId);
        Assert.Equal(isSegment, span.IsSegment);
    }

    [Fact]
    public void FromJson_ByteOrderMark_IsDropped()
    {
        var span = OutputSpan.FromJson((byte[])[0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Child)]);

        Assert.Equal(Child, span.ToJsonString());
    }

    [Theory]
    [InlineData("", "json")]
    [InlineData("[]", "json")]
    [InlineData("\"span\"", "json")]
    [InlineData("{\"span_id\":\"s1\"", "json")]
    [InlineData("{\"span_id\":\"s1\"} {}", "json")]
    [InlineData("{\"span_id\":\"s1\"} x", "json")]
    [InlineData("{\"span_id\":\"s1\",}", "json")]
    [InlineData("{\"span_id\":\"s1\" /* c */}", "json")]
    [InlineData("{}", "span_id")]
    [InlineData("{\"span_id\":1}", "span_id")]
    [InlineData("{\"span_id\":null}", "span_id")]
    [InlineData("{\"span_id\":\"\"}", "span_id")]
    [InlineData("{\"span_id\":\"a:b\"}", "span_id")]
    [InlineData("{\"span_id\":\"a{b\"}", "span_id")]
    [InlineData("{\"span_id\":\"a b\"}", "span_id")]
    [InlineData("{\"span_id\":\"s1\",\"is_segment\":1}", "is_segment")]
    [InlineData("{\"span_id\":\"s1\",\"is_segment\":\"true\"}", "is_segment")]
    public void FromJson_InvalidInput_ThrowsInvalidSpanExceptionNamingTheField(string json, string field)
    {
        var ex = Assert.Throws<InvalidSpanException>(() => OutputSpan.FromJson(json));

        Assert.Equal(field, ex.Field);
    }

    [Fact]
    public void FromJson_InvalidUtf8_ThrowsInvalidSpanException()
    {
        byte[] json = [.. "{\"span_id\":\"s1\",\"n\":\""u8, 0xC3, 0x28, .. "\"}"u8];

        Assert.Equal("json", Assert.Throws<InvalidSpanException>(() => OutputSpan.FromJson(json)).Field);
    }

    [Fact]
    public void FromJson_LoneSurrogate_ThrowsInvalidSpanException()
    {
        Assert.Equal("json", Assert.Throws<InvalidSpanException>(() => OutputSpan.FromJson("{\"span_id\":\"s1\",\"n\":\"\ud800\"}")).Field);
    }

    [Fact]
    public void FromJson_NullString_ThrowsArgumentNullException()
    {
        Assert.Throws<ArgumentNullException>(() => OutputSpan.FromJson((string)null!));
    }

    [Fact]
    public void ParseJson_ReturnsTheSpanAsADocument()
    {
        using var document = OutputSpan.FromJson(Root).ParseJson();

        Assert.Equal("café \"quoted\"", document.RootElement.GetProperty("name").GetString());
    }

    [Fact]
    public void CreateJsonReader_ReadsTheSpanTokens()
    {
        var reader = OutputSpan.FromJson(Child).CreateJsonReader();

        Assert.True(reader.Read());
        Assert.Equal(JsonTokenType.StartObject, reader.TokenType);
        Assert.True(reader.Read());
        Assert.True(reader.ValueTextEquals("span_id"u8));
    }

    [Fact]
    public void ParseJson_SpanBuiltWithInvalidBytes_ThrowsJsonException()
    {
        var span = new OutputSpan("{"u8.ToArray(), "a", false);

        Assert.ThrowsAny<JsonException>(() => span.ParseJson());
    }

    [Fact]
    public void Create_DefaultPrefix_FormatsTheKeysAsTheBufferDoes()
    {
        var segment = FlushedSegment.Create(s_segment, [OutputSpan.FromJson(Root), OutputSpan.FromJson(Child)]);

        Assert.Equal("span-buf:s:{42:5b8efff798038103d269b633813fc60c}:a000000000000001", segment.SegmentKey);
        Assert.Equal(new KeySchema("span-buf").QueueKey(0, null), segment.QueueKey);
        Assert.Equal(42, segment.ProjectId);
        Assert.True(segment.HasRootSpan);
        Assert.Empty(segment.PayloadKeys);
        Assert.Empty(segment.Losses);
        Assert.Equal(["a000000000000001", "b000000000000002"], segment.Spans.Select(span => span.SpanId));
    }

    [Theory]
    [InlineData("sbt", 3, null)]
    [InlineData("my.prefix_1-x", 7, 2)]
    public void Create_PrefixShardAndSlice_MatchTheKeySchema(string prefix, int shard, int? slice)
    {
        var segment = FlushedSegment.Create(s_segment, [OutputSpan.FromJson(Child)], prefix, shard, slice);

        Assert.Equal(new KeySchema(prefix).QueueKey(shard, slice), segment.QueueKey);
        Assert.Equal(new KeySchema(prefix).SegmentKey(KeySchema.ProjectAndTrace(42, s_segment.TraceId), s_segment.RootId), segment.SegmentKey);
        Assert.Equal(shard, segment.Candidate.Shard);
    }

    [Fact]
    public void Create_CopiesTheSpans()
    {
        var spans = new List<OutputSpan> { OutputSpan.FromJson(Child) };

        var segment = FlushedSegment.Create(s_segment, spans);
        spans.Clear();

        Assert.Single(segment.Spans);
    }

    [Fact]
    public void Create_ToMessages_SplitsLikeAFlushedSegment()
    {
        var root = OutputSpan.FromJson(Root);
        var child = OutputSpan.FromJson(Child);
        var segment = FlushedSegment.Create(s_segment, [root, child]);

        var whole = Assert.Single(segment.ToMessages(10_000));
        var chunks = segment.ToMessages(root.Json.Length);

        Assert.False(whole.SkipEnrichment);
        Assert.Equal([root, child], whole.Spans);
        Assert.Equal(2, chunks.Count);
        Assert.All(chunks, chunk => Assert.True(chunk.SkipEnrichment));
        using var document = JsonDocument.Parse(whole.ToArray());
        Assert.Equal(2, document.RootElement.GetProperty("spans").GetArrayLength());
    }

    [Fact]
    public void Create_InvalidArguments_ThrowTypedExceptions()
    {
        OutputSpan[] spans = [OutputSpan.FromJson(Child)];

        Assert.Throws<ArgumentNullException>(() => FlushedSegment.Create(s_segment, null!));
        Assert.Throws<ArgumentNullException>(() => FlushedSegment.Create(s_segment, spans, keyPrefix: null!));
        Assert.Equal("spans", Assert.Throws<ArgumentException>(() => FlushedSegment.Create(s_segment, [spans[0], null!])).ParamName);
        Assert.Equal("segment", Assert.Throws<ArgumentException>(() => FlushedSegment.Create(default, spans)).ParamName);
        Assert.Equal("segment", Assert.Throws<ArgumentException>(() => FlushedSegment.Create(s_segment with { RootId = "a:b" }, spans)).ParamName);
        Assert.Equal("segment", Assert.Throws<ArgumentException>(() => FlushedSegment.Create(s_segment with { TraceId = "t}" }, spans)).ParamName);
        Assert.Equal("keyPrefix", Assert.Throws<ArgumentException>(() => FlushedSegment.Create(s_segment, spans, "")).ParamName);
        Assert.Equal("keyPrefix", Assert.Throws<ArgumentException>(() => FlushedSegment.Create(s_segment, spans, "a:b")).ParamName);
        Assert.Equal("keyPrefix", Assert.Throws<ArgumentException>(() => FlushedSegment.Create(s_segment, spans, new string('p', 65))).ParamName);
        Assert.Equal("shard", Assert.Throws<ArgumentOutOfRangeException>(() => FlushedSegment.Create(s_segment, spans, shard: -1)).ParamName);
        Assert.Equal("sliceId", Assert.Throws<ArgumentOutOfRangeException>(() => FlushedSegment.Create(s_segment, spans, sliceId: -1)).ParamName);
    }

    [Theory]
    [InlineData("span-buf:q:0", 0)]
    [InlineData("span-buf:q:5", 5)]
    [InlineData("span-buf:q:2-11", 11)]
    [InlineData("custom-queue", 0)]
    public void FromKeys_ReadsProjectAndShardFromTheKeys(string queueKey, int shard)
    {
        var segmentKey = s_segment.Format();

        var segment = FlushedSegment.FromKeys(queueKey, segmentKey, [OutputSpan.FromJson(Child)], ["span-buf:s:{42:5b8efff798038103d269b633813fc60c:abc}:abc"]);

        Assert.Equal(queueKey, segment.QueueKey);
        Assert.Equal(segmentKey, segment.SegmentKey);
        Assert.Equal(42, segment.ProjectId);
        Assert.Equal(shard, segment.Candidate.Shard);
        Assert.Single(segment.PayloadKeys);
        Assert.False(segment.HasRootSpan);
    }

    [Fact]
    public void FromKeys_InvalidArguments_ThrowTypedExceptions()
    {
        var segmentKey = s_segment.Format();
        OutputSpan[] spans = [OutputSpan.FromJson(Child)];

        Assert.Throws<ArgumentNullException>(() => FlushedSegment.FromKeys(null!, segmentKey, spans));
        Assert.Throws<ArgumentNullException>(() => FlushedSegment.FromKeys("span-buf:q:0", null!, spans));
        Assert.Throws<ArgumentNullException>(() => FlushedSegment.FromKeys("span-buf:q:0", segmentKey, null!));
        Assert.Equal("queueKey", Assert.Throws<ArgumentException>(() => FlushedSegment.FromKeys(" ", segmentKey, spans)).ParamName);
        Assert.Equal("segmentKey", Assert.Throws<ArgumentException>(() => FlushedSegment.FromKeys("span-buf:q:0", "not-a-key", spans)).ParamName);
        Assert.Equal("spans", Assert.Throws<ArgumentException>(() => FlushedSegment.FromKeys("span-buf:q:0", segmentKey, [null!])).ParamName);
        Assert.Equal("payloadKeys", Assert.Throws<ArgumentException>(() => FlushedSegment.FromKeys("span-buf:q:0", segmentKey, spans, [""])).ParamName);
    }

    [Fact]
    public void SegmentMessage_PublicConstructor_WritesTheGivenFlushIdAndSpans()
    {
        var message = new SegmentMessage(42, [OutputSpan.FromJson(Root), OutputSpan.FromJson(Child)], skipEnrichment: true, flushId: "test-flush_1");

        Assert.Equal("{\"flush_id\":\"test-flush_1\",\"spans\":[" + Root + "," + Child + "],\"skip_enrichment\":true}", Encoding.UTF8.GetString(message.ToArray()));
        Assert.Equal(message.ToArray().Length, message.Length);
        Assert.Equal(42, message.ProjectId);
        Assert.True(message.SkipEnrichment);
    }

    [Fact]
    public void SegmentMessage_PublicConstructorDefaults_FreshHexFlushIdAndNoSkipEnrichment()
    {
        var first = new SegmentMessage(1, [OutputSpan.FromJson(Child)]);
        var second = new SegmentMessage(1, [OutputSpan.FromJson(Child)]);

        Assert.Matches("^[0-9a-f]{32}$", first.FlushId);
        Assert.NotEqual(first.FlushId, second.FlushId);
        Assert.False(first.SkipEnrichment);
        Assert.EndsWith("]}", Encoding.UTF8.GetString(first.ToArray()), StringComparison.Ordinal);
    }

    [Fact]
    public void SegmentMessage_InvalidArguments_ThrowTypedExceptions()
    {
        OutputSpan[] spans = [OutputSpan.FromJson(Child)];

        Assert.Throws<ArgumentNullException>(() => new SegmentMessage(1, null!));
        Assert.Equal("spans", Assert.Throws<ArgumentException>(() => new SegmentMessage(1, [])).ParamName);
        Assert.Equal("spans", Assert.Throws<ArgumentException>(() => new SegmentMessage(1, [null!])).ParamName);
        Assert.Equal("flushId", Assert.Throws<ArgumentException>(() => new SegmentMessage(1, spans, flushId: "")).ParamName);
        Assert.Equal("flushId", Assert.Throws<ArgumentException>(() => new SegmentMessage(1, spans, flushId: "a\"b")).ParamName);
        Assert.Equal("flushId", Assert.Throws<ArgumentException>(() => new SegmentMessage(1, spans, flushId: new string('f', 65))).ParamName);
    }
}
