using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace SpanBuffer.Redis;

/// <summary>
/// A Lua script called by its SHA1 (<c>EVALSHA</c>). StackExchange.Redis's text overload looks the script up in a
/// table keyed by its whole text on every call, which hashed kilobytes of Lua per subsegment; calling by hash skips
/// that. When a node has lost its script cache (restart, failover, <c>SCRIPT FLUSH</c>) it answers NOSCRIPT without
/// running anything, and the call is repeated through the text overload, which loads the script again.
/// </summary>
internal sealed class RedisScript
{
    public RedisScript(string text)
    {
        Text = text;

        // Redis names cached scripts by the SHA1 of their body; no security rests on it.
#pragma warning disable CA5350
        Hash = SHA1.HashData(Encoding.UTF8.GetBytes(text));
#pragma warning restore CA5350
    }

    public string Text { get; }

    public byte[] Hash { get; }

    public Task<RedisResult> EvaluateAsync(IDatabaseAsync database, RedisKey[] keys, RedisValue[] values)
    {
        var byHash = database.ScriptEvaluateAsync(Hash, keys, values);
        return byHash.IsCompletedSuccessfully ? byHash : ReloadOnNoScriptAsync(byHash, database, keys, values);
    }

    private async Task<RedisResult> ReloadOnNoScriptAsync(Task<RedisResult> byHash, IDatabaseAsync database, RedisKey[] keys, RedisValue[] values)
    {
        try
        {
            return await byHash.ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            return await database.ScriptEvaluateAsync(Text, keys, values).ConfigureAwait(false);
        }
    }
}
