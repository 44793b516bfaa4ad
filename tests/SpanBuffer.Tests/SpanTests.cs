using System.Text;
using SpanBuffer.Models;

namespace SpanBuffer.Tests;

public sealed class SpanTests
{
    private const string TraceId = "0123456789abcdef0123456789abcdef";
    private const string SpanId = "aaaaaaaaaaaaaaaa";
    private const string ParentId = "bbbbbbbbbbbbbbbb";

    private static readonly string[] s_requiredFields =
    [
        "organization_id", "project_id", "trace_id", "span_id", "start_timestamp",
        "end_timestamp", "received", "retention_days", "status",
    ];

    /// <summary>A valid ingest message with every required field; fields can be replaced (raw JSON), added or removed.</summary>
    private static byte[] Message(Dictionary<string, string?>? overrides = null)
    {
        var fields = new List<KeyValuePair<string, string>>
        {
            new("organization_id", "7"),
            new("project_id", "42"),
            new("trace_id", $"\"{TraceId}\""),
            new("span_id", $"\"{SpanId}\""),
            new("parent_span_id", $"\"{ParentId}\""),
            new("start_timestamp", "1700000000.5"),
            new("end_timestamp", "1700000001.25"),
            new("received", "1700000002.0"),
            new("retention_days", "90"),
            new("status", "\"ok\""),
        };

        foreach (var (name, json) in overrides ?? [])
        {
            var index = fields.FindIndex(f => f.Key == name);
            if (index >= 0)
            {
                fields.RemoveAt(index);
            }

            if (json is not null)
            {
                fields.Insert(index >= 0 ? index : fields.Count, new(name, json));
            }
        }

        return Encoding.UTF8.GetBytes("{" + string.Join(",", fields.Select(f => $"\"{f.Key}\":{f.Value}")) + "}");
    }

    private static Span Parse(Dictionary<string, string?>? overrides = null, int partition = 0) =>
        Span.Parse(Message(overrides), partition);

    private static InvalidSpanException ParseFails(Dictionary<string, string?> overrides) =>
        Assert.Throws<InvalidSpanException>(() => Parse(overrides));

    public static TheoryData<string> RequiredFields => new(s_requiredFields);

    [Fact]
    public void Parse_ValidMessage_ReadsEveryField()
    {
        var span = Parse(partition: 5);

        Assert.Equal(TraceId, span.TraceId);
        Assert.Equal(SpanId, span.SpanId);
        Assert.Equal(ParentId, span.ParentSpanId);
        Assert.Null(span.SegmentId);
        Assert.Equal(42, span.ProjectId);
        Assert.False(span.IsSegmentSpan);
        Assert.Equal(5, span.Partition);
    }

    [Fact]
    public void Parse_ValidMessage_KeepsThePayloadBytesIdentical()
    {
        var message = Encoding.UTF8.GetBytes(
            "{ \"organization_id\": 7, \"project_id\": 42, \"trace_id\": \"" + TraceId + "\", \"span_id\": \"" + SpanId
            + "\", \"start_timestamp\": 1.50e+3, \"end_timestamp\": 2, \"received\": 3, \"retention_days\": 90, \"status\": \"caf\\u00e9\" }\n");

        var span = Span.Parse(message);

        Assert.Equal(message, span.Payload.ToArray());
    }

    [Fact]
    public void Parse_DefaultPartition_IsZero()
    {
        Assert.Equal(0, Span.Parse(Message()).Partition);
    }

    [Theory]
    [MemberData(nameof(RequiredFields))]
    public void Parse_RequiredFieldMissing_ThrowsNamingTheField(string field)
    {
        var ex = ParseFails(new() { [field] = null });

        Assert.Equal(field, ex.Field);
        Assert.Contains(field, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(RequiredFields))]
    public void Parse_RequiredFieldNull_ThrowsNamingTheField(string field)
    {
        Assert.Equal(field, ParseFails(new() { [field] = "null" }).Field);
    }

    [Theory]
    [InlineData("start_timestamp", "\"1700000000.5\"")]
    [InlineData("end_timestamp", "\"1\"")]
    [InlineData("received", "true")]
    [InlineData("project_id", "1.5")]
    [InlineData("project_id", "\"42\"")]
    [InlineData("organization_id", "7.25")]
    [InlineData("retention_days", "[90]")]
    [InlineData("status", "null")]
    [InlineData("status", "200")]
    [InlineData("trace_id", "123")]
    [InlineData("span_id", "{}")]
    [InlineData("parent_span_id", "42")]
    [InlineData("is_segment", "\"yes\"")]
    public void Parse_WrongType_ThrowsNamingTheField(string field, string json)
    {
        Assert.Equal(field, ParseFails(new() { [field] = json }).Field);
    }

    [Fact]
    public void Parse_IntegerTimestamps_AreAccepted()
    {
        var span = Parse(new() { ["start_timestamp"] = "1700000000", ["end_timestamp"] = "1700000001", ["received"] = "1700000002" });

        Assert.Equal(SpanId, span.SpanId);
    }

    [Theory]
    [InlineData("null")]
    [InlineData(null)]
    public void Parse_ParentNullOrMissing_IsSegmentSpan(string? parentJson)
    {
        var span = Parse(new() { ["parent_span_id"] = parentJson });

        Assert.Null(span.ParentSpanId);
        Assert.True(span.IsSegmentSpan);
        Assert.Equal(SpanId, span.EffectiveParentId);
    }

    [Fact]
    public void Parse_IsSegmentTrueWithParent_IsSegmentSpan()
    {
        var span = Parse(new() { ["is_segment"] = "true" });

        Assert.Equal(ParentId, span.ParentSpanId);
        Assert.True(span.IsSegmentSpan);
    }

    [Theory]
    [InlineData("false")]
    [InlineData("null")]
    public void Parse_IsSegmentFalseOrNullWithParent_IsNotSegmentSpan(string json)
    {
        Assert.False(Parse(new() { ["is_segment"] = json }).IsSegmentSpan);
    }

    [Fact]
    public void Parse_IsSegmentFalseWithoutParent_IsSegmentSpan()
    {
        Assert.True(Parse(new() { ["is_segment"] = "false", ["parent_span_id"] = null }).IsSegmentSpan);
    }

    [Fact]
    public void Parse_TruthySegmentIdAttribute_ReadsIt()
    {
        var span = Parse(new()
        {
            ["attributes"] = "{\"other\":{\"type\":\"string\",\"value\":\"x\"},\"sentry.segment.id\":{\"type\":\"string\",\"value\":\"cccccccccccccccc\"}}",
        });

        Assert.Equal("cccccccccccccccc", span.SegmentId);
        Assert.Equal("cccccccccccccccc", span.EffectiveParentId);
    }

    [Theory]
    [InlineData("{\"sentry.segment.id\":{\"type\":\"string\",\"value\":\"\"}}")]
    [InlineData("{\"sentry.segment.id\":{\"type\":\"string\",\"value\":null}}")]
    [InlineData("{\"sentry.segment.id\":{\"type\":\"string\"}}")]
    [InlineData("{\"other\":{\"type\":\"string\",\"value\":\"cccccccccccccccc\"}}")]
    [InlineData("{}")]
    [InlineData("null")]
    [InlineData(null)]
    public void Parse_FalsyOrMissingSegmentId_IsIgnored(string? attributesJson)
    {
        var span = Parse(new() { ["attributes"] = attributesJson });

        Assert.Null(span.SegmentId);
        Assert.Equal(ParentId, span.EffectiveParentId);
    }

    [Fact]
    public void Parse_UnknownFields_AreIgnored()
    {
        var span = Parse(new()
        {
            ["name"] = "\"db.query\"",
            ["data"] = "{\"nested\":[1,2.5e-3,{\"x\":null,\"span_id\":\"zzz\"}],\"s\":\"caf\\u00e9\"}",
            ["measurements"] = "[]",
            ["flag"] = "false",
        });

        Assert.Equal(SpanId, span.SpanId);
        Assert.Equal(42, span.ProjectId);
    }

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("42")]
    [InlineData("\"span\"")]
    [InlineData("null")]
    [InlineData("true")]
    public void Parse_NotAnObject_ThrowsWithRootField(string json)
    {
        var ex = Assert.Throws<InvalidSpanException>(() => Span.Parse(Encoding.UTF8.GetBytes(json)));

        Assert.Equal("$", ex.Field);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("{\"project_id\":}")]
    [InlineData("not json")]
    [InlineData("{\"project_id\":42,}")]
    [InlineData("{\"trace_id\":\"abc")]
    public void Parse_InvalidJson_ThrowsWithRootField(string json)
    {
        var ex = Assert.Throws<InvalidSpanException>(() => Span.Parse(Encoding.UTF8.GetBytes(json)));

        Assert.Equal("$", ex.Field);
    }

    [Theory]
    [InlineData(" garbage")]
    [InlineData("}")]
    [InlineData("{\"x\":1}")]
    [InlineData(",")]
    public void Parse_TrailingContentAfterTheObject_ThrowsWithRootField(string suffix)
    {
        var message = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Message()) + suffix);

        var ex = Record.Exception(() => Span.Parse(message));

        Assert.True(ex is InvalidSpanException { Field: "$" }, $"suffix '{suffix}': expected InvalidSpanException for '$', got {ex?.GetType().Name ?? "no exception"}");
    }

    [Theory]
    [InlineData(" ")]
    [InlineData("\n")]
    [InlineData("\r\n\t ")]
    public void Parse_TrailingWhitespace_IsAccepted(string suffix)
    {
        var message = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Message()) + suffix);

        Assert.Equal(message, Span.Parse(message).Payload.ToArray());
    }

    [Theory]
    [InlineData("trace_id", "")]
    [InlineData("trace_id", "a{b")]
    [InlineData("trace_id", "a}b")]
    [InlineData("trace_id", "a:b")]
    [InlineData("trace_id", "a b")]
    [InlineData("span_id", "")]
    [InlineData("span_id", "{aaaa}")]
    [InlineData("span_id", "aa:aa")]
    [InlineData("span_id", "aa\\taa")]
    [InlineData("span_id", "aaaa\\n")]
    [InlineData("parent_span_id", "")]
    [InlineData("parent_span_id", "b}")]
    [InlineData("parent_span_id", "b:b")]
    [InlineData("parent_span_id", " b")]
    public void Parse_IdBreakingKeys_ThrowsNamingTheField(string field, string escapedValue)
    {
        Assert.Equal(field, ParseFails(new() { [field] = $"\"{escapedValue}\"" }).Field);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a{b")]
    [InlineData("a}b")]
    [InlineData("a:b")]
    [InlineData("a b")]
    [InlineData("a\tb")]
    [InlineData("ab\n")]
    public void Constructor_IdBreakingKeys_ThrowsNamingTheField(string bad)
    {
        Assert.Equal("trace_id", Assert.Throws<InvalidSpanException>(() => new Span(bad, SpanId, null, null, 1, default, true)).Field);
        Assert.Equal("span_id", Assert.Throws<InvalidSpanException>(() => new Span(TraceId, bad, null, null, 1, default, true)).Field);
        Assert.Equal("parent_span_id", Assert.Throws<InvalidSpanException>(() => new Span(TraceId, SpanId, bad, null, 1, default, false)).Field);
        Assert.Equal("sentry.segment.id", Assert.Throws<InvalidSpanException>(() => new Span(TraceId, SpanId, ParentId, bad, 1, default, false)).Field);
    }

    [Fact]
    public void Constructor_NullIds_ThrowsNamingTheField()
    {
        Assert.Equal("trace_id", Assert.Throws<InvalidSpanException>(() => new Span(null!, SpanId, null, null, 1, default, true)).Field);
        Assert.Equal("span_id", Assert.Throws<InvalidSpanException>(() => new Span(TraceId, null!, null, null, 1, default, true)).Field);
    }

    [Fact]
    public void Constructor_NegativePartition_ThrowsNamingPartition()
    {
        var ex = Assert.Throws<InvalidSpanException>(() => new Span(TraceId, SpanId, null, null, 1, default, true, -1));

        Assert.Equal("partition", ex.Field);
    }

    [Fact]
    public void Constructor_ValidArguments_KeepsThem()
    {
        var payload = new byte[] { 1, 2, 3 };

        var span = new Span(TraceId, SpanId, ParentId, "cccccccccccccccc", 9, payload, isSegmentSpan: false, partition: 4);

        Assert.Equal(
            (TraceId, SpanId, ParentId, "cccccccccccccccc", 9L, false, 4),
            (span.TraceId, span.SpanId, span.ParentSpanId, span.SegmentId, span.ProjectId, span.IsSegmentSpan, span.Partition));
        Assert.Equal(payload, span.Payload.ToArray());
    }

    [Fact]
    public void EffectiveParentId_SegmentSpan_IsItsOwnIdEvenWithParentAndSegmentId()
    {
        var span = new Span(TraceId, SpanId, ParentId, "cccccccccccccccc", 1, default, isSegmentSpan: true);

        Assert.Equal(SpanId, span.EffectiveParentId);
    }

    [Fact]
    public void EffectiveParentId_KnownSegmentId_TakesPriorityOverParent()
    {
        var span = new Span(TraceId, SpanId, ParentId, "cccccccccccccccc", 1, default, isSegmentSpan: false);

        Assert.Equal("cccccccccccccccc", span.EffectiveParentId);
    }

    [Fact]
    public void EffectiveParentId_ParentOnly_IsTheParent()
    {
        var span = new Span(TraceId, SpanId, ParentId, null, 1, default, isSegmentSpan: false);

        Assert.Equal(ParentId, span.EffectiveParentId);
    }

    [Fact]
    public void EffectiveParentId_NoParentNoSegmentId_IsItsOwnId()
    {
        var span = new Span(TraceId, SpanId, null, null, 1, default, isSegmentSpan: false);

        Assert.Equal(SpanId, span.EffectiveParentId);
    }

    [Fact]
    public void InvalidSpanException_Message_NamesFieldAndReason()
    {
        var ex = new InvalidSpanException("span_id", "is required.");

        Assert.Equal("Invalid span field 'span_id': is required.", ex.Message);
        Assert.IsAssignableFrom<FormatException>(ex);
    }
}
