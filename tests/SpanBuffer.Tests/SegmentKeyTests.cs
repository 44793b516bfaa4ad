using SpanBuffer.Models;

namespace SpanBuffer.Tests;

public sealed class SegmentKeyTests
{
    private const string Salt = "3106330ede3673ae78e9b017358c794a";

    [Fact]
    public void Format_DefaultPrefix_BuildsReferenceKey()
    {
        Assert.Equal("span-buf:s:{1:abc}:root", new SegmentKey(1, "abc", "root").Format());
        Assert.Equal("span-buf:s:{1:abc}:root", new SegmentKey(1, "abc", "root").ToString());
    }

    [Fact]
    public void Format_CustomPrefix_ReplacesOnlyThePrefix()
    {
        Assert.Equal("tenant-7:s:{42:abc}:root", new SegmentKey(42, "abc", "root").Format("tenant-7"));
    }

    [Fact]
    public void DefaultPrefix_IsTheReferencePrefix()
    {
        Assert.Equal("span-buf", SegmentKey.DefaultPrefix);
    }

    [Theory]
    [InlineData("span-buf:s:{1:abc}:root", 1, "abc", "root")]
    [InlineData("custom:s:{42:0123456789abcdef0123456789abcdef}:aaaaaaaaaaaaaaaa", 42, "0123456789abcdef0123456789abcdef", "aaaaaaaaaaaaaaaa")]
    [InlineData("span-buf:s:3:{1:abc}:root", 1, "abc", "root")]
    [InlineData("span-buf:s:0:{9:t}:r", 9, "t", "r")]
    [InlineData("span-buf:s:{1:abc}:" + Salt, 1, "abc", Salt)]
    [InlineData("span-buf:s:3:{1:abc}:" + Salt, 1, "abc", Salt)]
    public void Parse_CurrentLegacyAndDetachedKeys_ReturnsParts(string key, long project, string trace, string root)
    {
        var parsed = SegmentKey.Parse(key);

        Assert.Equal(new SegmentKey(project, trace, root), parsed);
        Assert.True(SegmentKey.TryParse(key, out var tried));
        Assert.Equal(parsed, tried);
    }

    [Fact]
    public void Parse_DetachedKey_RootIsTheSalt()
    {
        var parsed = SegmentKey.Parse(new SegmentKey(5, "abc", Salt).Format());

        Assert.Equal(Salt, parsed.RootId);
        Assert.Equal(32, parsed.RootId.Length);
    }

    [Fact]
    public void Parse_FormattedKey_RoundTrips()
    {
        var key = new SegmentKey(123456789012, "0123456789abcdef0123456789abcdef", "aaaaaaaaaaaaaaaa");

        Assert.Equal(key, SegmentKey.Parse(key.Format("x")));
    }

    [Theory]
    [InlineData("")]
    [InlineData("span-buf")]
    [InlineData("span-buf:s:{1:abc}")]
    [InlineData("span-buf:s:{1:abc}:root:extra:more")]
    [InlineData("a:b:c:d:e:f:g")]
    [InlineData("span-buf:s:{x:abc}:root")]
    [InlineData("span-buf:s:{:abc}:root")]
    [InlineData("span-buf:s:{1:}:root")]
    [InlineData("span-buf:s:{1:abc}:")]
    [InlineData("span-buf:s:3:{1:abc}:")]
    public void Parse_OtherShapes_ThrowsFormatException(string key)
    {
        Assert.Throws<FormatException>(() => SegmentKey.Parse(key));
        Assert.False(SegmentKey.TryParse(key, out var result));
        Assert.Equal(default, result);
    }

    [Fact]
    public void TryParse_Null_ReturnsFalse()
    {
        Assert.False(SegmentKey.TryParse(null, out _));
    }

    [Fact]
    public void Parse_Null_ThrowsArgumentNullException()
    {
        Assert.Throws<ArgumentNullException>(() => SegmentKey.Parse(null!));
    }

    [Fact]
    public void Parse_InvalidKey_MessageQuotesTheKey()
    {
        var ex = Assert.Throws<FormatException>(() => SegmentKey.Parse("nope"));

        Assert.Contains("'nope'", ex.Message, StringComparison.Ordinal);
    }
}
