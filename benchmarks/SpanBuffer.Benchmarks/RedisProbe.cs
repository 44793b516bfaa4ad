using System.Globalization;
using StackExchange.Redis;

namespace SpanBuffer.Benchmarks;

/// <summary>Reads server-side figures from every primary: CPU seconds, used memory, key counts.</summary>
internal sealed class RedisProbe(IConnectionMultiplexer redis)
{
    private IEnumerable<IServer> PrimaryServers => redis.GetServers().Where(s => s.IsConnected && !s.IsReplica);

    public int Primaries => PrimaryServers.Count();

    public async Task<double> CpuSecondsAsync()
    {
        double total = 0;
        foreach (var server in PrimaryServers)
        {
            var info = (await server.InfoAsync("cpu")).SelectMany(g => g).ToDictionary(kv => kv.Key, kv => kv.Value);
            total += double.Parse(info["used_cpu_sys"], CultureInfo.InvariantCulture) + double.Parse(info["used_cpu_user"], CultureInfo.InvariantCulture);
        }

        return total;
    }

    public async Task<long> UsedMemoryAsync()
    {
        long total = 0;
        foreach (var server in PrimaryServers)
        {
            var info = (await server.InfoAsync("memory")).SelectMany(g => g).ToDictionary(kv => kv.Key, kv => kv.Value);
            total += long.Parse(info["used_memory"], CultureInfo.InvariantCulture);
        }

        return total;
    }

    public async Task<long> CountKeysAsync(string? pattern = null)
    {
        long total = 0;
        foreach (var server in PrimaryServers)
        {
            if (pattern is null)
            {
                total += await server.DatabaseSizeAsync();
                continue;
            }

            await foreach (var _ in server.KeysAsync(pattern: pattern, pageSize: 10_000))
            {
                total++;
            }
        }

        return total;
    }
}
