using CsCheck;
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

    [Fact]
    public void TryParse_AnyString_AgreesWithSplittingOnColons()
    {
        // The reference's rule written the obvious way: split on ':', five parts or the legacy six.
        static bool Oracle(string key, out SegmentKey result)
        {
            result = default;
            var parts = key.Split(':');
            if (parts.Length is not (5 or 6))
            {
                return false;
            }

            var offset = parts.Length - 5;
            var project = parts[2 + offset].StartsWith('{') ? parts[2 + offset][1..] : parts[2 + offset];
            var trace = parts[3 + offset].EndsWith('}') ? parts[3 + offset][..^1] : parts[3 + offset];
            var root = parts[4 + offset];
            if (!long.TryParse(project, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var id)
                || trace.Length == 0 || root.Length == 0)
            {
                return false;
            }

            result = new SegmentKey(id, trace, root);
            return true;
        }

        Gen.Char[":{}1a-+ "].Array[0, 24].Select(chars => new string(chars)).Sample(
            key => SegmentKey.TryParse(key, out var parsed) == Oracle(key, out var expected) && parsed == expected,
            iter: 20_000,
            seed: "0N0XIzNsQ0O2");
    }
}
