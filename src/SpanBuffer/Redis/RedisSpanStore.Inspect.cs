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

    /// <summary>Used and available memory of every primary (available = maxmemory, else the host's total memory).</summary>
    public static async Task<RedisMemoryUsage> GetMemoryUsageAsync(IConnectionMultiplexer redis)
    {
        var primaries = redis.GetServers().Where(s => s.IsConnected && !s.IsReplica).ToList();
        if (primaries.Count == 0)
        {
            throw new InvalidOperationException("No connected Redis primary to read memory usage from.");
        }

        var pending = primaries.Select(s => (Server: s, Info: s.InfoAsync("memory"))).ToList();
        var nodes = new List<RedisNodeMemory>(pending.Count);
        foreach (var (server, info) in pending)
        {
            var values = (await info.ConfigureAwait(false)).SelectMany(g => g).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            var used = ReadLong(values, "used_memory");
            var max = ReadLong(values, "maxmemory");
            var available = max > 0 ? max : ReadLong(values, "total_system_memory");
            nodes.Add(new RedisNodeMemory(server.EndPoint.ToString() ?? "?", used, available));
        }

        return new RedisMemoryUsage(nodes);
    }

    private static long ReadLong(Dictionary<string, string> values, string name) =>
        values.TryGetValue(name, out var text) && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : 0;
}
