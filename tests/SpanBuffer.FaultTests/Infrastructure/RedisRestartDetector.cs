using StackExchange.Redis;

namespace SpanBuffer.FaultTests.Infrastructure;

/// <summary>
/// How a host can notice that a Redis without persistence restarted (and so lost every buffered span, with nothing
/// left to count): remember each primary's <c>run_id</c> (INFO server; new on every start) and keep a sentinel key
/// without TTL; a changed run id or a vanished sentinel means the data is gone and the host must report an unknown
/// loss (and, e.g., rewind its consumer offsets to the last flush).
/// </summary>
internal sealed class RedisRestartDetector
{
    private readonly Dictionary<string, string> _runIds = new(StringComparer.Ordinal);
    private readonly string _sentinelKey;

    public RedisRestartDetector(string sentinelKey) => _sentinelKey = sentinelKey;

    public async Task ArmAsync(IConnectionMultiplexer redis, IEnumerable<IServer> primaries)
    {
        foreach (var primary in primaries)
        {
            _runIds[primary.EndPoint.ToString()!] = await RunIdAsync(primary);
        }

        await redis.GetDatabase().StringSetAsync(_sentinelKey, "armed");
    }

    /// <summary>What changed since <see cref="ArmAsync"/>: primaries with a new run id, and whether the sentinel vanished.</summary>
    public async Task<(IReadOnlyList<string> Restarted, bool SentinelLost)> CheckAsync(IConnectionMultiplexer redis, IEnumerable<IServer> primaries)
    {
        var restarted = new List<string>();
        foreach (var primary in primaries)
        {
            var endPoint = primary.EndPoint.ToString()!;
            if (!_runIds.TryGetValue(endPoint, out var runId) || runId != await RunIdAsync(primary))
            {
                restarted.Add(endPoint);
            }
        }

        return (restarted, !await redis.GetDatabase().KeyExistsAsync(_sentinelKey));
    }

    private static async Task<string> RunIdAsync(IServer server)
    {
        var info = (string?)await server.ExecuteAsync("INFO", "server") ?? string.Empty;
        return info.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("run_id:", StringComparison.Ordinal))["run_id:".Length..];
    }
}
