using System.Diagnostics;
using StackExchange.Redis;

namespace SpanBuffer.IntegrationTests.Infrastructure;

/// <summary>
/// One Redis Cluster for the test run: <c>SPANBUFFER_TEST_REDIS_CLUSTER</c> (one or more seed endpoints), else
/// its own three-primary cluster from <c>redis-server</c> and <c>redis-cli --cluster create</c>.
/// </summary>
public sealed class ClusterRedisFixture() : RedisFixture(RedisTopology.Cluster, EnvironmentVariable)
{
    public const string EnvironmentVariable = "SPANBUFFER_TEST_REDIS_CLUSTER";

    /// <summary>The number of primaries (and nodes: there are no replicas) of the fixture's own cluster.</summary>
    public const int OwnClusterPrimaries = 3;

    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PollDelay = TimeSpan.FromMilliseconds(50);

    private bool _ownCluster;

    private protected override async Task<string> StartServersAsync(string redisServer, CancellationToken cancellationToken)
    {
        var redisCli = Executables.Find("redis-cli")
            ?? throw new InvalidOperationException(
                "redis-server is on PATH but redis-cli is not; it is needed to create the cluster (Debian's redis-server package brings both).");

        var directory = Own(ScratchDirectory.Create());
        var nodes = new List<RedisServerProcess>();
        for (var i = 0; i < OwnClusterPrimaries; i++)
        {
            nodes.Add(Own(await RedisServerProcess.StartAsync(redisServer, directory.Path, clusterEnabled: true, cancellationToken)));
        }

        _ownCluster = true;
        string[] create = ["--cluster", "create", .. nodes.Select(node => node.EndPoint), "--cluster-replicas", "0", "--cluster-yes"];
        var (exitCode, output) = await ProcessOutput.RunAsync(redisCli, create, ReadyTimeout, cancellationToken);
        if (exitCode != 0)
        {
            throw new InvalidOperationException(
                $"redis-cli {string.Join(' ', create)} exited with code {exitCode}. Output:{Environment.NewLine}{output}");
        }

        await WaitForClusterStateOkAsync(nodes, cancellationToken);
        return string.Join(',', nodes.Select(node => node.EndPoint));
    }

    private protected override async Task WaitUntilReadyAsync(ConnectionMultiplexer connection, CancellationToken cancellationToken)
    {
        if (!_ownCluster)
        {
            return;
        }

        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var primaries = Primaries.Where(server => server.IsConnected).ToArray();
            if (primaries.Length == OwnClusterPrimaries)
            {
                foreach (var primary in primaries)
                {
                    await primary.PingAsync();
                }

                return;
            }

            if (Stopwatch.GetElapsedTime(started) > ReadyTimeout)
            {
                throw new TimeoutException(
                    $"The multiplexer saw {primaries.Length} connected primaries instead of {OwnClusterPrimaries} after " +
                    $"{ReadyTimeout.TotalSeconds:0} s. Servers: {string.Join(", ", connection.GetServers().Select(Describe))}");
            }

            await connection.ReconfigureAsync("waiting for the cluster's primaries");
            await Task.Delay(PollDelay, cancellationToken);
        }
    }

    private static async Task WaitForClusterStateOkAsync(List<RedisServerProcess> nodes, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var expectedNodes = $"cluster_known_nodes:{nodes.Count}";
        foreach (var node in nodes)
        {
            while (true)
            {
                var info = await RespProbe.SendAsync(node.Port, TimeSpan.FromSeconds(2), cancellationToken, "CLUSTER", "INFO") ?? string.Empty;
                if (info.Contains("cluster_state:ok", StringComparison.Ordinal) && info.Contains(expectedNodes, StringComparison.Ordinal))
                {
                    break;
                }

                if (Stopwatch.GetElapsedTime(started) > ReadyTimeout)
                {
                    throw new TimeoutException(
                        $"Cluster node {node.EndPoint} did not report cluster_state:ok with {nodes.Count} known nodes within " +
                        $"{ReadyTimeout.TotalSeconds:0} s. CLUSTER INFO:{Environment.NewLine}{info}{Environment.NewLine}Output:{Environment.NewLine}{node.Output}");
                }

                await Task.Delay(PollDelay, cancellationToken);
            }
        }
    }

    private static string Describe(IServer server) =>
        $"{server.EndPoint} ({server.ServerType}, {(server.IsReplica ? "replica" : "primary")}, {(server.IsConnected ? "connected" : "disconnected")})";
}
