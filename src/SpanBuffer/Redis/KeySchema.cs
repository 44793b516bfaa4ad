using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Unicode;
using SpanBuffer.Models;
using StackExchange.Redis;

namespace SpanBuffer.Redis;

/// <summary>
/// Every Redis key the buffer uses, built in one place from the key prefix. The layout is the reference's,
/// byte for byte, so either implementation can flush what the other ingested.
/// </summary>
internal sealed class KeySchema(string prefix)
{
    public string Prefix { get; } = prefix;

    public static string ProjectAndTrace(long projectId, string traceId) =>
        string.Concat(projectId.ToString(CultureInfo.InvariantCulture), ":", traceId);

    public string QueueKey(int shard, int? sliceId) => sliceId is { } slice
        ? string.Create(CultureInfo.InvariantCulture, $"{Prefix}:q:{slice}-{shard}")
        : string.Create(CultureInfo.InvariantCulture, $"{Prefix}:q:{shard}");

    /// <summary>The salted payload set: its own hash tag spreads payload sets over the cluster.</summary>
    public string PayloadKey(string projectAndTrace, string salt) =>
        string.Concat(Prefix, ":s:{", projectAndTrace, ":", salt, "}:", salt);

    public string SegmentKey(string projectAndTrace, string rootId) =>
        string.Concat(Prefix, ":s:{", projectAndTrace, "}:", rootId);

    public string RedirectKey(string projectAndTrace) => string.Concat(Prefix, ":ssr:{", projectAndTrace, "}");

    /// <summary>
    /// The salts of a trace that are stored and not yet cleaned up (a hash, salt → "1"): how the ingest script tells a
    /// replayed chunk, wherever merges moved it since. Not in the reference, which counts replays again.
    /// </summary>
    public string StoredSaltsKey(string projectAndTrace) => string.Concat(Prefix, ":ss:{", projectAndTrace, "}");

    public string MemberKeysKey(SegmentKey segment) =>
        string.Concat(Prefix, ":mk:{", ProjectAndTrace(segment.ProjectId, segment.TraceId), "}:", segment.RootId);

    public string PayloadKeyFromMember(SegmentKey segment, string salt) =>
        PayloadKey(ProjectAndTrace(segment.ProjectId, segment.TraceId), salt);

    public string HasRootKey(string segmentKey) => string.Concat(Prefix, ":hrs:", segmentKey);

    public string IngestedCountKey(string segmentKey) => string.Concat(Prefix, ":ic:", segmentKey);

    public string IngestedBytesKey(string segmentKey) => string.Concat(Prefix, ":ibc:", segmentKey);

    /// <summary>
    /// Reads a queue member as a segment key: valid UTF-8 in the current or the legacy segment key form, whose hash tag
    /// is exactly <c>{project:trace}</c>, so every key built from it shares one cluster slot.
    /// </summary>
    public static bool TryReadSegmentKey(RedisValue member, [NotNullWhen(true)] out string? segmentKey)
    {
        segmentKey = null;
        var bytes = (ReadOnlyMemory<byte>)member;
        if (member.IsNullOrEmpty || !Utf8.IsValid(bytes.Span))
        {
            return false;
        }

        var text = (string)member!;
        if (!Models.SegmentKey.TryParse(text, out var parsed) || !HasProjectAndTraceTag(text, parsed))
        {
            return false;
        }

        segmentKey = text;
        return true;
    }

    private static bool HasProjectAndTraceTag(string segmentKey, Models.SegmentKey parsed)
    {
        var open = segmentKey.IndexOf('{');
        var close = open < 0 ? -1 : segmentKey.IndexOf('}', open + 1);
        return close > open
            && segmentKey.AsSpan(open + 1, close - open - 1).SequenceEqual(ProjectAndTrace(parsed.ProjectId, parsed.TraceId));
    }

    public string FlushLockKey(string segmentKey) => string.Concat(Prefix, ":fl:", segmentKey);
}
