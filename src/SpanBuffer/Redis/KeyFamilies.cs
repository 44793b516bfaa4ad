using System.Globalization;
using StackExchange.Redis;

namespace SpanBuffer.Redis;

/// <summary>The kinds of key the buffer writes under its prefix (see <see cref="KeySchema"/>).</summary>
internal enum KeyFamily
{
    /// <summary>Under the prefix, but not a key the buffer writes.</summary>
    Unknown = 0,

    /// <summary>A shard's queue: <c>&lt;prefix&gt;:q:[&lt;slice&gt;-]&lt;shard&gt;</c>.</summary>
    Queue,

    /// <summary>A salted payload set: <c>&lt;prefix&gt;:s:{pt:salt}:salt</c>.</summary>
    Payload,

    /// <summary>A segment's member-keys index: <c>&lt;prefix&gt;:mk:{pt}:root</c>.</summary>
    MemberKeys,

    /// <summary>A trace's redirect hash: <c>&lt;prefix&gt;:ssr:{pt}</c>.</summary>
    Redirect,

    /// <summary>A trace's stored-salts hash: <c>&lt;prefix&gt;:ss:{pt}</c>.</summary>
    StoredSalts,

    /// <summary>A segment's has-root flag: <c>&lt;prefix&gt;:hrs:</c> + segment key.</summary>
    HasRoot,

    /// <summary>A segment's ingested span count: <c>&lt;prefix&gt;:ic:</c> + segment key.</summary>
    IngestedCount,

    /// <summary>A segment's ingested byte count: <c>&lt;prefix&gt;:ibc:</c> + segment key.</summary>
    IngestedBytes,

    /// <summary>A segment's flush lock or cleanup fence: <c>&lt;prefix&gt;:fl:</c> + segment key.</summary>
    FlushLock,
}

/// <summary>A key read back into its family and the segment or trace it belongs to.</summary>
/// <param name="Key">The key.</param>
/// <param name="Family">Its family.</param>
/// <param name="ProjectAndTrace">The <c>project:trace</c> it belongs to (all but queues and unknown keys).</param>
/// <param name="SegmentKey">The segment it belongs to (index and per-segment metadata keys).</param>
/// <param name="Salt">The salt of a payload set.</param>
internal readonly record struct ClassifiedKey(string Key, KeyFamily Family, string? ProjectAndTrace = null, string? SegmentKey = null, string? Salt = null);

/// <summary>
/// Reads keys back into their families. Every family prefix is taken from <see cref="KeySchema"/>, and a key is only
/// accepted when <see cref="KeySchema"/> builds exactly that key from the parts read, so the layout lives in one place.
/// </summary>
internal sealed class KeyFamilies
{
    private const string Marker = "\u0001";

    private readonly KeySchema _keys;
    private readonly string _queue;
    private readonly string _segmentOrPayload;
    private readonly string _memberKeys;
    private readonly string _redirect;
    private readonly string _storedSalts;
    private readonly string _hasRoot;
    private readonly string _ingestedCount;
    private readonly string _ingestedBytes;
    private readonly string _flushLock;

    public KeyFamilies(KeySchema keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _keys = keys;
        var queue = keys.QueueKey(0, null);
        _queue = queue[..^1];
        _segmentOrPayload = Before(keys.SegmentKey(Marker, Marker));
        _memberKeys = Before(keys.MemberKeysKey(new Models.SegmentKey(0, Marker, Marker)))[..^2]; // without the project "0:"
        _redirect = Before(keys.RedirectKey(Marker));
        _storedSalts = Before(keys.StoredSaltsKey(Marker));
        _hasRoot = Before(keys.HasRootKey(Marker));
        _ingestedCount = Before(keys.IngestedCountKey(Marker));
        _ingestedBytes = Before(keys.IngestedBytesKey(Marker));
        _flushLock = Before(keys.FlushLockKey(Marker));
    }

    public KeySchema Keys => _keys;

    /// <summary>Gets the SCAN pattern of every key under the prefix.</summary>
    public string AllKeysPattern => _keys.Prefix + ":*";

    /// <summary>Gets the SCAN pattern of every queue, of every slice.</summary>
    public string QueuePattern => _queue + "*";

    /// <summary>Gets the SCAN pattern of every flush lock.</summary>
    public string FlushLockPattern => _flushLock + "*";

    public ClassifiedKey Classify(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.StartsWith(_queue, StringComparison.Ordinal))
        {
            return new ClassifiedKey(key, IsQueue(key) ? KeyFamily.Queue : KeyFamily.Unknown);
        }

        if (TrySegmentMetadata(key, _hasRoot, KeyFamily.HasRoot, out var classified)
            || TrySegmentMetadata(key, _ingestedBytes, KeyFamily.IngestedBytes, out classified)
            || TrySegmentMetadata(key, _ingestedCount, KeyFamily.IngestedCount, out classified)
            || TrySegmentMetadata(key, _flushLock, KeyFamily.FlushLock, out classified))
        {
            return classified;
        }

        if (key.StartsWith(_memberKeys, StringComparison.Ordinal) && Models.SegmentKey.TryParse(key, out var indexed))
        {
            var pt = KeySchema.ProjectAndTrace(indexed.ProjectId, indexed.TraceId);
            if (_keys.MemberKeysKey(indexed) == key)
            {
                return new ClassifiedKey(key, KeyFamily.MemberKeys, pt, _keys.SegmentKey(pt, indexed.RootId));
            }
        }

        if (TryTraceKey(key, _redirect, _keys.RedirectKey, KeyFamily.Redirect, out classified)
            || TryTraceKey(key, _storedSalts, _keys.StoredSaltsKey, KeyFamily.StoredSalts, out classified))
        {
            return classified;
        }

        if (key.StartsWith(_segmentOrPayload, StringComparison.Ordinal))
        {
            // <prefix>:s:{project:trace:salt}:salt
            var close = key.IndexOf('}', _segmentOrPayload.Length);
            if (close > 0 && close + 2 <= key.Length && key[close + 1] == ':')
            {
                var inside = key[_segmentOrPayload.Length..close];
                var lastColon = inside.LastIndexOf(':');
                if (lastColon > 0)
                {
                    var pt = inside[..lastColon];
                    var salt = inside[(lastColon + 1)..];
                    if (_keys.PayloadKey(pt, salt) == key)
                    {
                        return new ClassifiedKey(key, KeyFamily.Payload, pt, Salt: salt);
                    }
                }
            }
        }

        return new ClassifiedKey(key, KeyFamily.Unknown);
    }

    /// <summary>Reads a queue key of this prefix: its shard and slice (null when the queue has none).</summary>
    public bool TryReadQueue(string key, out int shard, out int? slice)
    {
        ArgumentNullException.ThrowIfNull(key);
        shard = 0;
        slice = null;
        if (!key.StartsWith(_queue, StringComparison.Ordinal))
        {
            return false;
        }

        var name = key[_queue.Length..];
        var dash = name.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0)
        {
            return int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out shard) && _keys.QueueKey(shard, null) == key;
        }

        if (int.TryParse(name[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var sliceId)
            && int.TryParse(name[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out shard)
            && _keys.QueueKey(shard, sliceId) == key)
        {
            slice = sliceId;
            return true;
        }

        return false;
    }

    private bool IsQueue(string key) => TryReadQueue(key, out _, out _);

    private bool TrySegmentMetadata(string key, string familyPrefix, KeyFamily family, out ClassifiedKey classified)
    {
        classified = default;
        if (!key.StartsWith(familyPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var segmentKey = key[familyPrefix.Length..];
        if (!KeySchema.TryReadSegmentKey((RedisValue)segmentKey, out _) || !Models.SegmentKey.TryParse(segmentKey, out var parsed))
        {
            return false;
        }

        var pt = KeySchema.ProjectAndTrace(parsed.ProjectId, parsed.TraceId);
        if (_keys.SegmentKey(pt, parsed.RootId) != segmentKey)
        {
            return false;
        }

        classified = new ClassifiedKey(key, family, pt, segmentKey);
        return true;
    }

    private static bool TryTraceKey(string key, string familyPrefix, Func<string, string> build, KeyFamily family, out ClassifiedKey classified)
    {
        classified = default;
        if (!key.StartsWith(familyPrefix, StringComparison.Ordinal) || !key.EndsWith('}'))
        {
            return false;
        }

        var pt = key[familyPrefix.Length..^1];
        if (build(pt) != key)
        {
            return false;
        }

        classified = new ClassifiedKey(key, family, pt);
        return true;
    }

    private static string Before(string built) => built[..built.IndexOf(Marker, StringComparison.Ordinal)];
}
