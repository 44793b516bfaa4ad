using SpanBuffer.Ingest;
using StackExchange.Redis;

namespace SpanBuffer.Redis;

/// <summary>Why the script wrote a subsegment as its own segment instead of merging it into its target.</summary>
internal enum DetachReason
{
    None = 0,
    TooLarge = 1,
    FlushLocked = 2,
}

/// <summary>The parsed reply of <c>add-buffer.lua</c>.</summary>
/// <param name="SegmentKey">The segment the chunk now belongs to.</param>
/// <param name="HasRootSpan">Whether the original target segment has (or had) its root span.</param>
/// <param name="DetachReason">Whether and why the chunk became its own segment.</param>
/// <param name="MergedRoots">Chunk span ids that were roots of segments merged into this one.</param>
/// <param name="Replayed">Whether the chunk was already registered (a replay): its spans were not counted again.</param>
internal sealed record AddBufferResult(string SegmentKey, bool HasRootSpan, DetachReason DetachReason, IReadOnlyList<string> MergedRoots, bool Replayed = false)
{
    public bool IsDetached => DetachReason != DetachReason.None;
}

/// <summary>The settings the script needs from the options, read once per ingest call.</summary>
internal readonly record struct AddBufferSettings(string KeyPrefix, long TtlSeconds, long MaxSegmentBytes, bool CheckFlushLock);

/// <summary>The only place that knows the argument order and reply shape of <c>add-buffer.lua</c>.</summary>
internal static class AddBufferScript
{
    private const int FixedArguments = 9;

    public static RedisKey[] CreateKeys(Subsegment subsegment) => [subsegment.ProjectAndTrace];

    public static RedisValue[] CreateArguments(Subsegment subsegment, in AddBufferSettings settings)
    {
        var spans = subsegment.Spans;
        var values = new RedisValue[FixedArguments + spans.Count];
        values[0] = settings.KeyPrefix;
        values[1] = spans.Count;
        values[2] = subsegment.ParentSpanId;
        values[3] = subsegment.HasSegmentSpan ? "true" : "false";
        values[4] = settings.TtlSeconds;
        values[5] = subsegment.ByteCount;
        values[6] = settings.MaxSegmentBytes;
        values[7] = subsegment.Salt;
        values[8] = settings.CheckFlushLock ? "true" : "false";
        for (var i = 0; i < spans.Count; i++)
        {
            values[FixedArguments + i] = spans[i].SpanId;
        }

        return values;
    }

    /// <summary>Runs the script by hash; a node without it in its cache answers NOSCRIPT and runs nothing.</summary>
    public static Task<RedisResult> RunByHashAsync(IDatabaseAsync database, Subsegment subsegment, in AddBufferSettings settings) =>
        LuaScripts.AddBuffer.EvaluateByHashAsync(database, CreateKeys(subsegment), CreateArguments(subsegment, settings));

    /// <summary>Runs the script by text (never NOSCRIPT).</summary>
    public static Task<RedisResult> RunByTextAsync(IDatabaseAsync database, Subsegment subsegment, in AddBufferSettings settings) =>
        LuaScripts.AddBuffer.EvaluateTextAsync(database, CreateKeys(subsegment), CreateArguments(subsegment, settings));

    public static AddBufferResult ParseResult(RedisResult result)
    {
        if (result.Resp2Type != ResultType.Array || result.Length < 4)
        {
            throw Malformed($"{result.Resp2Type} of length {result.Length}");
        }

        var segmentKey = (string?)result[0] ?? throw Malformed("no segment key");
        var hasRoot = ReadInteger(result[1], "has_root") switch
        {
            0 => false,
            1 => true,
            var other => throw Malformed($"has_root {other}"),
        };
        var detachReason = ReadInteger(result[2], "detach_reason") switch
        {
            var reason and >= (long)DetachReason.None and <= (long)DetachReason.FlushLocked => (DetachReason)reason,
            var other => throw Malformed($"detach_reason {other}"),
        };
        var mergedReply = result[3];
        if (mergedReply.Resp2Type != ResultType.Array)
        {
            throw Malformed($"merged roots of type {mergedReply.Resp2Type}");
        }

        var merged = new string[mergedReply.Length];
        for (var i = 0; i < merged.Length; i++)
        {
            merged[i] = (string?)mergedReply[i] ?? throw Malformed("a null merged root");
        }

        var replayed = result.Length > 4 && ReadInteger(result[4], "replayed") == 1;
        return new AddBufferResult(segmentKey, hasRoot, detachReason, merged, replayed);
    }

    private static long ReadInteger(RedisResult value, string field) =>
        value.Resp2Type == ResultType.Integer ? (long)value : throw Malformed($"{field} of type {value.Resp2Type}");

    private static InvalidOperationException Malformed(string detail) => new($"Unexpected add-buffer reply: {detail}.");
}
