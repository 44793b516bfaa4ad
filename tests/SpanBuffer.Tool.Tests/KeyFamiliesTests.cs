using SpanBuffer.Redis;

namespace SpanBuffer.Tool.Tests;

/// <summary>Every key <see cref="KeySchema"/> builds is read back into its family and owner; nothing else is.</summary>
public sealed class KeyFamiliesTests
{
    private const string Prefix = "span-buf";
    private const string Pt = "42:5b8efff798038103d269b633813fc60c";
    private const string Salt = "0123456789abcdef0123456789abcdef";
    private const string Root = "a000000000000001";

    private static readonly KeySchema s_keys = new(Prefix);
    private static readonly KeyFamilies s_families = new(s_keys);
    private static readonly string s_segment = s_keys.SegmentKey(Pt, Root);

    public static TheoryData<string, string, string?, string?, string?> Keys() => new()
    {
        { s_keys.QueueKey(3, null), nameof(KeyFamily.Queue), null, null, null },
        { s_keys.QueueKey(12, 7), nameof(KeyFamily.Queue), null, null, null },
        { s_keys.PayloadKey(Pt, Salt), nameof(KeyFamily.Payload), Pt, null, Salt },
        { s_keys.MemberKeysKey(Models.SegmentKey.Parse(s_segment)), nameof(KeyFamily.MemberKeys), Pt, s_segment, null },
        { s_keys.RedirectKey(Pt), nameof(KeyFamily.Redirect), Pt, null, null },
        { s_keys.StoredSaltsKey(Pt), nameof(KeyFamily.StoredSalts), Pt, null, null },
        { s_keys.HasRootKey(s_segment), nameof(KeyFamily.HasRoot), Pt, s_segment, null },
        { s_keys.IngestedCountKey(s_segment), nameof(KeyFamily.IngestedCount), Pt, s_segment, null },
        { s_keys.IngestedBytesKey(s_segment), nameof(KeyFamily.IngestedBytes), Pt, s_segment, null },
        { s_keys.FlushLockKey(s_segment), nameof(KeyFamily.FlushLock), Pt, s_segment, null },
        { Prefix + ":q:x", nameof(KeyFamily.Unknown), null, null, null },
        { Prefix + ":s:{42:abc}:" + Root, nameof(KeyFamily.Unknown), null, null, null }, // a segment key is never stored
        { Prefix + ":s:{" + Pt + ":" + Salt + "}:other", nameof(KeyFamily.Unknown), null, null, null },
        { Prefix + ":ic:other:s:{" + Pt + "}:" + Root, nameof(KeyFamily.Unknown), null, null, null },
        { Prefix + ":zz:" + Pt, nameof(KeyFamily.Unknown), null, null, null },
    };

    [Theory]
    [MemberData(nameof(Keys))]
    public void Classify_ReadsEveryFamilyBack(string key, string family, string? projectAndTrace, string? segmentKey, string? salt)
    {
        var classified = s_families.Classify(key);

        Assert.Equal(new ClassifiedKey(key, Enum.Parse<KeyFamily>(family), projectAndTrace, segmentKey, salt), classified);
    }

    [Fact]
    public void TryReadQueue_ReadsShardAndSlice()
    {
        Assert.True(s_families.TryReadQueue(s_keys.QueueKey(12, 7), out var shard, out var slice));
        Assert.Equal((12, (int?)7), (shard, slice));
        Assert.True(s_families.TryReadQueue(s_keys.QueueKey(0, null), out shard, out slice));
        Assert.Equal((0, (int?)null), (shard, slice));
        Assert.False(s_families.TryReadQueue(new KeySchema("other").QueueKey(0, null), out _, out _));
    }
}
