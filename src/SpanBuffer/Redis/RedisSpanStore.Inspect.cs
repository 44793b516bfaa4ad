using System.Globalization;
using StackExchange.Redis;

namespace SpanBuffer.Redis;

internal sealed partial class RedisSpanStore
{
    public async Task<IReadOnlyList<ShardQueueSize>> GetQueueSizesAsync(IReadOnlyList<QueueShard> shards)
    {
        var pending = shards.Select(s => (Shard: s, Size: _database.SortedSetLengthAsync(s.QueueKey))).ToList();
        var sizes = new List<ShardQueueSize>(pending.Count);
        foreach (var (shard, size) in pending)
        {
            sizes.Add(new ShardQueueSize(shard.Shard, await size.ConfigureAwait(false)));
        }

        return sizes;
    }

    /// <summary>
    /// Used and available memory of every primary (available = maxmemory, else the host's total memory). Needs no admin
    /// rights: StackExchange.Redis refuses <c>INFO</c> (also through <c>IServer.ExecuteAsync</c>) unless the connection
    /// has <c>allowAdmin=true</c>, so each primary runs <c>memory-info.lua</c>, a keyless script that returns
    /// <c>INFO memory</c> (Redis allows INFO in scripts). Only EVAL/EVALSHA and INFO must be permitted by the server's ACL.
    /// </summary>
    public static async Task<RedisMemoryUsage> GetMemoryUsageAsync(IConnectionMultiplexer redis)
    {
        var primaries = redis.GetServers().Where(s => s.IsConnected && !s.IsReplica).ToList();
        if (primaries.Count == 0)
        {
            throw new InvalidOperationException("No connected Redis primary to read memory usage from.");
        }

        var pending = primaries.Select(s => (Server: s, Info: ReadMemoryInfoAsync(s))).ToList();
        await ((Task)Task.WhenAll(pending.Select(p => p.Info))).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var nodes = new List<RedisNodeMemory>(pending.Count);
        foreach (var (server, info) in pending)
        {
            nodes.Add(ParseMemoryInfo(server.EndPoint.ToString() ?? "?", await info.ConfigureAwait(false)));
        }

        return new RedisMemoryUsage(nodes);
    }

    /// <summary>Reads one node's memory from an <c>INFO memory</c> reply (<c>name:value</c> lines; other lines ignored).</summary>
    /// <exception cref="FormatException">The reply has no integer <c>used_memory</c> field: it is not an INFO reply.</exception>
    internal static RedisNodeMemory ParseMemoryInfo(string endPoint, string info)
    {
        long? used = null;
        long max = 0;
        long total = 0;
        foreach (var range in info.AsSpan().Split('\n'))
        {
            var line = info.AsSpan(range).TrimEnd('\r');
            var colon = line.IndexOf(':');
            if (colon <= 0 || !long.TryParse(line[(colon + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            {
                continue;
            }

            switch (line[..colon])
            {
                case "used_memory":
                    used = value;
                    break;
                case "maxmemory":
                    max = value;
                    break;
                case "total_system_memory":
                    total = value;
                    break;
            }
        }

        if (used is not { } usedBytes)
        {
            throw new FormatException($"The INFO memory reply of {endPoint} has no integer used_memory field.");
        }

        return new RedisNodeMemory(endPoint, usedBytes, max > 0 ? max : total);
    }

    /// <summary>Runs <c>memory-info.lua</c> on <paramref name="server"/> by its hash, and by its text when the node answers NOSCRIPT.</summary>
    private static async Task<string> ReadMemoryInfoAsync(IServer server)
    {
        var script = LuaScripts.MemoryInfo;
        RedisResult reply;
        try
        {
            reply = await server.ExecuteAsync("EVALSHA", Convert.ToHexStringLower(script.Hash), 0).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (RedisScript.IsNoScript(ex))
        {
            reply = await server.ExecuteAsync("EVAL", script.Text, 0).ConfigureAwait(false);
        }

        return (string?)reply ?? string.Empty;
    }
}
