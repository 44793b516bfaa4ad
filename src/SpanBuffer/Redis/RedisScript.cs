using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace SpanBuffer.Redis;

/// <summary>
/// A Lua script called by its SHA1 (<c>EVALSHA</c>). StackExchange.Redis's text overload looks the script up in a
/// table keyed by its whole text on every call, which hashed kilobytes of Lua per subsegment; calling by hash skips
/// that. When a node has lost its script cache (restart, failover, <c>SCRIPT FLUSH</c>) it answers NOSCRIPT without
/// running anything; the call is then sent again as a plain <c>EVAL</c> of the text, which cannot answer NOSCRIPT
/// (the library's own reload path can, when the cache is flushed again between its load and its call) and caches
/// the script on that node again.
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

    /// <summary>Runs the script by hash and, on NOSCRIPT, by text.</summary>
    public Task<RedisResult> EvaluateAsync(IDatabaseAsync database, RedisKey[] keys, RedisValue[] values)
    {
        var byHash = EvaluateByHashAsync(database, keys, values);
        return byHash.IsCompletedSuccessfully ? byHash : ReloadOnNoScriptAsync(byHash, database, keys, values);
    }

    /// <summary>Runs the script by hash only: the caller handles NOSCRIPT (see <see cref="IsNoScript"/>).</summary>
    public Task<RedisResult> EvaluateByHashAsync(IDatabaseAsync database, RedisKey[] keys, RedisValue[] values) =>
        database.ScriptEvaluateAsync(Hash, keys, values);

    /// <summary>Runs the script with a plain <c>EVAL</c> of its text, which never answers NOSCRIPT.</summary>
    public Task<RedisResult> EvaluateTextAsync(IDatabaseAsync database, RedisKey[] keys, RedisValue[] values)
    {
        // Keys go as RedisKey, so the command is routed to the node that owns their slot.
        var arguments = new object[2 + keys.Length + values.Length];
        arguments[0] = Text;
        arguments[1] = keys.Length;
        keys.CopyTo(arguments, 2);
        for (var i = 0; i < values.Length; i++)
        {
            arguments[2 + keys.Length + i] = values[i];
        }

        return database.ExecuteAsync("EVAL", arguments);
    }

    /// <summary>Whether a failed call ran nothing because the node did not know the script.</summary>
    public static bool IsNoScript(Exception? exception) =>
        exception is RedisServerException server && server.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal);

    private async Task<RedisResult> ReloadOnNoScriptAsync(Task<RedisResult> byHash, IDatabaseAsync database, RedisKey[] keys, RedisValue[] values)
    {
        try
        {
            return await byHash.ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (IsNoScript(ex))
        {
            return await EvaluateTextAsync(database, keys, values).ConfigureAwait(false);
        }
    }
}
