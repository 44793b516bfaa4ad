using SpanBuffer.Models;
using SpanBuffer.Redis;

namespace SpanBuffer.Tests;

public sealed class KeySchemaTests
{
    private const string PT = "1:T";
    private const string Salt = "3106330ede3673ae78e9b017358c794a";
    private const string SegmentKeyText = "span-buf:s:{1:T}:root";

    private static KeySchema CreateSut(string prefix = "span-buf") => new(prefix);

    /// <summary>The text Redis Cluster hashes: between the first '{' and the next '}'.</summary>
    private static string HashTag(string key)
    {
        var open = key.IndexOf('{', StringComparison.Ordinal);
        var close = key.IndexOf('}', open + 1);
        return key[(open + 1)..close];
    }

    [Fact]
    public void ProjectAndTrace_DecimalProjectAndTrace_JoinsWithColon()
    {
        Assert.Equal("1:T", KeySchema.ProjectAndTrace(1, "T"));
        Assert.Equal("1234567890123:abc", KeySchema.ProjectAndTrace(1234567890123, "abc"));
    }

    [Fact]
    public void Prefix_IsTheConstructorArgument()
    {
        Assert.Equal("custom", CreateSut("custom").Prefix);
    }

    [Fact]
    public void PayloadKey_ProjectTraceAndSalt_UsesSaltedHashTag()
    {
        var key = CreateSut().PayloadKey(PT, Salt);

        Assert.Equal($"span-buf:s:{{1:T:{Salt}}}:{Salt}", key);
        Assert.Equal("1:T:" + Salt, HashTag(key));
    }

    [Fact]
    public void PayloadKeyFromMember_SegmentAndSalt_EqualsPayloadKey()
    {
        var key = CreateSut().PayloadKeyFromMember(new SegmentKey(1, "T", "root"), Salt);

        Assert.Equal($"span-buf:s:{{1:T:{Salt}}}:{Salt}", key);
    }

    [Fact]
    public void SegmentKey_ProjectTraceAndRoot_MatchesSegmentKeyFormat()
    {
        var key = CreateSut().SegmentKey(PT, "root");

        Assert.Equal(SegmentKeyText, key);
        Assert.Equal(new SegmentKey(1, "T", "root").Format(), key);
    }

    [Theory]
    [InlineData(3, null, "span-buf:q:3")]
    [InlineData(0, null, "span-buf:q:0")]
    [InlineData(3, 7, "span-buf:q:7-3")]
    [InlineData(12, 0, "span-buf:q:0-12")]
    public void QueueKey_ShardAndSlice_MatchesReferenceFormat(int shard, int? slice, string expected)
    {
        Assert.Equal(expected, CreateSut().QueueKey(shard, slice));
    }

    [Fact]
    public void RedirectKey_ProjectAndTrace_IsHashTagged()
    {
        Assert.Equal("span-buf:ssr:{1:T}", CreateSut().RedirectKey(PT));
    }

    [Fact]
    public void MemberKeysKey_Segment_UsesProjectTraceTagAndRoot()
    {
        Assert.Equal("span-buf:mk:{1:T}:root", CreateSut().MemberKeysKey(new SegmentKey(1, "T", "root")));
        Assert.Equal($"span-buf:mk:{{1:T}}:{Salt}", CreateSut().MemberKeysKey(new SegmentKey(1, "T", Salt)));
    }

    [Fact]
    public void MetadataKeys_SegmentKey_ArePrefixKindAndSegmentKey()
    {
        var sut = CreateSut();

        Assert.Equal("span-buf:hrs:span-buf:s:{1:T}:root", sut.HasRootKey(SegmentKeyText));
        Assert.Equal("span-buf:ic:span-buf:s:{1:T}:root", sut.IngestedCountKey(SegmentKeyText));
        Assert.Equal("span-buf:ibc:span-buf:s:{1:T}:root", sut.IngestedBytesKey(SegmentKeyText));
        Assert.Equal("span-buf:fl:span-buf:s:{1:T}:root", sut.FlushLockKey(SegmentKeyText));
    }

    [Fact]
    public void ScriptKeys_AllShareTheProjectTraceHashTag()
    {
        var sut = CreateSut();
        var segment = sut.SegmentKey(PT, "root");

        string[] keys =
        [
            segment,
            sut.RedirectKey(PT),
            sut.MemberKeysKey(SegmentKey.Parse(segment)),
            sut.HasRootKey(segment),
            sut.IngestedCountKey(segment),
            sut.IngestedBytesKey(segment),
            sut.FlushLockKey(segment),
        ];

        Assert.All(keys, key => Assert.Equal(PT, HashTag(key)));
    }

    [Fact]
    public void AllKeys_CustomPrefix_StartWithThatPrefix()
    {
        var sut = CreateSut("custom");
        var segment = sut.SegmentKey(PT, "root");

        Assert.Equal("custom:s:{1:T}:root", segment);
        Assert.Equal($"custom:s:{{1:T:{Salt}}}:{Salt}", sut.PayloadKey(PT, Salt));
        Assert.Equal("custom:q:3", sut.QueueKey(3, null));
        Assert.Equal("custom:q:7-3", sut.QueueKey(3, 7));
        Assert.Equal("custom:ssr:{1:T}", sut.RedirectKey(PT));
        Assert.Equal("custom:mk:{1:T}:root", sut.MemberKeysKey(new SegmentKey(1, "T", "root")));
        Assert.Equal("custom:hrs:custom:s:{1:T}:root", sut.HasRootKey(segment));
        Assert.Equal("custom:ic:custom:s:{1:T}:root", sut.IngestedCountKey(segment));
        Assert.Equal("custom:ibc:custom:s:{1:T}:root", sut.IngestedBytesKey(segment));
        Assert.Equal("custom:fl:custom:s:{1:T}:root", sut.FlushLockKey(segment));
    }
}
