using System.Diagnostics;
using System.Globalization;
using SpanBuffer.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace SpanBuffer.FaultTests.Infrastructure;

/// <summary>
/// Redis servers owned by one test, for faults that would disturb the shared fixtures (kill, restart, SCRIPT FLUSH,
/// CONFIG SET maxmemory): a standalone node, or a cluster of <c>masters</c> primaries with <c>replicasPerMaster</c>
/// replicas each, created with <c>redis-cli --cluster create</c>. The multiplexer reconnects
/// (<c>AbortOnConnectFail=false</c>) and follows failovers.
/// </summary>
internal sealed class PrivateRedis : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);

    private readonly ScratchDirectory _directory;
    private ConnectionMultiplexer? _connection;

    private PrivateRedis(RedisTopology topology, ScratchDirectory directory, IReadOnlyList<RedisNode> nodes)
    {
        Topology = topology;
        _directory = directory;
        Nodes = nodes;
    }

    public RedisTopology Topology { get; }

    public IReadOnlyList<RedisNode> Nodes { get; }

    public ConnectionMultiplexer Connection => _connection ?? throw new InvalidOperationException("Not connected.");

    public IDatabase Db => Connection.GetDatabase();

    public static async Task<PrivateRedis> StartStandaloneAsync(string[] extraArguments, CancellationToken cancellationToken)
    {
        var directory = ScratchDirectory.Create();
        var node = await RedisNode.StartAsync(directory.Path, clusterEnabled: false, extraArguments, cancellationToken);
        var redis = new PrivateRedis(RedisTopology.Standalone, directory, [node]);
        await redis.ConnectAsync();
        return redis;
    }

    public static async Task<PrivateRedis> StartClusterAsync(int masters, int replicasPerMaster, string[] extraArguments, CancellationToken cancellationToken)
    {
        var directory = ScratchDirectory.Create();
        var nodes = new List<RedisNode>();
        try
        {
            var starts = Enumerable.Range(0, masters * (1 + replicasPerMaster))
                .Select(_ => RedisNode.StartAsync(directory.Path, clusterEnabled: true, extraArguments, cancellationToken));
            nodes.AddRange(await Task.WhenAll(starts));
            var redisCli = Executables.Find("redis-cli") ?? throw new InvalidOperationException("redis-cli is not on PATH.");
            string[] create =
            [
                "--cluster", "create", .. nodes.Select(n => n.EndPoint),
                "--cluster-replicas", replicasPerMaster.ToString(CultureInfo.InvariantCulture), "--cluster-yes",
            ];
            var (exitCode, output) = await ProcessOutput.RunAsync(redisCli, create, ReadyTimeout, cancellationToken);
            if (exitCode != 0)
            {
                throw new InvalidOperationException($"redis-cli {string.Join(' ', create)} exited with {exitCode}:{Environment.NewLine}{output}");
            }

            var redis = new PrivateRedis(RedisTopology.Cluster, directory, nodes);
            await redis.WaitForClusterAsync(nodes, masters, cancellationToken);
            await redis.WaitForReplicasAsync(masters * replicasPerMaster, cancellationToken);
            await redis.ConnectAsync();
            await redis.WaitUntilConnectionSeesPrimariesAsync(masters, cancellationToken);
            return redis;
        }
        catch
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }

            await directory.DisposeAsync();
            throw;
        }
    }

    /// <summary>The slot-owning primaries as the cluster (or the standalone server) reports them now.</summary>
    public IReadOnlyList<IServer> Primaries
    {
        get
        {
            if (Topology == RedisTopology.Standalone)
            {
                return [Connection.GetServer(Nodes[0].EndPoint)];
            }

            var configuration = Connection.GetServers()
                .Where(s => s.IsConnected)
                .Select(s => s.ClusterConfiguration)
                .FirstOrDefault(c => c is not null);
            return (configuration?.Nodes ?? [])
                .Where(n => !n.IsReplica && n.Slots.Count > 0 && n.EndPoint is not null)
                .Select(n => Connection.GetServer(n.EndPoint!))
                .ToArray();
        }
    }

    public RedisNode NodeAt(string endPoint) => Nodes.Single(n => n.EndPoint == endPoint);

    /// <summary>Every key matching <paramref name="pattern"/> on every primary.</summary>
    public async Task<IReadOnlyList<string>> GetKeysAsync(string pattern)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var server in Primaries)
        {
            await foreach (var key in server.KeysAsync(pattern: pattern, pageSize: 1000))
            {
                keys.Add(key.ToString());
            }
        }

        return [.. keys.Order(StringComparer.Ordinal)];
    }

    /// <summary>The (master, replica) pairs from a live node's CLUSTER NODES.</summary>
    public async Task<IReadOnlyList<(RedisNode Master, RedisNode Replica)>> MasterReplicaPairsAsync(CancellationToken cancellationToken)
    {
        var live = Nodes.First(n => n.IsRunning);
        var text = await live.SendAsync(cancellationToken, "CLUSTER", "NODES") ?? string.Empty;
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToArray();
        string EndPointOf(string[] fields) => fields[1].Split('@')[0];
        var masters = lines.Where(f => f[2].Contains("master", StringComparison.Ordinal) && !f[2].Contains("fail", StringComparison.Ordinal))
            .ToDictionary(f => f[0], EndPointOf);
        return lines
            .Where(f => f[2].Contains("slave", StringComparison.Ordinal) && masters.ContainsKey(f[3]))
            .Select(f => (NodeAt(masters[f[3]]), NodeAt(EndPointOf(f))))
            .ToArray();
    }

    /// <summary>
    /// Waits until <paramref name="replica"/> has received everything <paramref name="master"/> wrote so far: polls the
    /// replica's <c>slave_repl_offset</c> (INFO replication) until it reaches the master's <c>master_repl_offset</c>.
    /// (WAIT would do too, but only on the connection that made the writes.)
    /// </summary>
    public static async Task WaitForReplicationAsync(RedisNode master, RedisNode replica, CancellationToken cancellationToken)
    {
        var target = InfoField(await master.SendAsync(cancellationToken, "INFO", "replication"), "master_repl_offset");
        var started = Stopwatch.GetTimestamp();
        while (InfoField(await replica.SendAsync(cancellationToken, "INFO", "replication"), "slave_repl_offset") < target)
        {
            if (Stopwatch.GetElapsedTime(started) > ReadyTimeout)
            {
                throw new TimeoutException($"Replica {replica.EndPoint} did not reach offset {target} of {master.EndPoint}.");
            }

            await Task.Delay(10, cancellationToken);
        }
    }

    /// <summary>Waits until every node lists <paramref name="replicas"/> replicas and each replica's link to its master is up.</summary>
    private async Task WaitForReplicasAsync(int replicas, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        foreach (var node in Nodes)
        {
            while (true)
            {
                var nodes = await node.SendAsync(cancellationToken, "CLUSTER", "NODES") ?? string.Empty;
                var replication = await node.SendAsync(cancellationToken, "INFO", "replication") ?? string.Empty;
                var listed = nodes.Split('\n').Count(l => (l.Split(' ').ElementAtOrDefault(2) ?? string.Empty).Contains("slave", StringComparison.Ordinal));
                var linked = !replication.Contains("role:slave", StringComparison.Ordinal)
                    || replication.Contains("master_link_status:up", StringComparison.Ordinal);
                if (listed == replicas && linked)
                {
                    break;
                }

                if (Stopwatch.GetElapsedTime(started) > ReadyTimeout)
                {
                    throw new TimeoutException($"{node.EndPoint} lists {listed} of {replicas} replicas:{Environment.NewLine}{nodes}{Environment.NewLine}{replication}");
                }

                await Task.Delay(20, cancellationToken);
            }
        }
    }

    /// <summary>Waits until every running node's CLUSTER NODES lists <paramref name="promoted"/> as a master and the cluster is ok.</summary>
    public async Task WaitForPromotionAsync(RedisNode promoted, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        foreach (var node in Nodes.Where(n => n.IsRunning))
        {
            while (true)
            {
                var nodes = await node.SendAsync(cancellationToken, "CLUSTER", "NODES") ?? string.Empty;
                var info = await node.SendAsync(cancellationToken, "CLUSTER", "INFO") ?? string.Empty;
                var line = nodes.Split('\n').FirstOrDefault(l => l.Contains(" " + promoted.EndPoint + "@", StringComparison.Ordinal)) ?? string.Empty;
                var flags = line.Split(' ').ElementAtOrDefault(2) ?? string.Empty;
                if (flags.Contains("master", StringComparison.Ordinal) && info.Contains("cluster_state:ok", StringComparison.Ordinal))
                {
                    break;
                }

                if (Stopwatch.GetElapsedTime(started) > ReadyTimeout)
                {
                    throw new TimeoutException($"{node.EndPoint} does not see {promoted.EndPoint} as a master:{Environment.NewLine}{nodes}");
                }

                await Task.Delay(20, cancellationToken);
            }
        }
    }

    /// <summary>Waits until every running node reports <c>cluster_state:ok</c> and <paramref name="masters"/> slot owners.</summary>
    public async Task WaitForClusterAsync(IReadOnlyList<RedisNode> nodes, int masters, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        foreach (var node in nodes.Where(n => n.IsRunning))
        {
            while (true)
            {
                var info = await node.SendAsync(cancellationToken, "CLUSTER", "INFO") ?? string.Empty;
                if (info.Contains("cluster_state:ok", StringComparison.Ordinal)
                    && InfoField(info, "cluster_size") == masters
                    && InfoField(info, "cluster_known_nodes") >= nodes.Count(n => n.IsRunning))
                {
                    break;
                }

                if (Stopwatch.GetElapsedTime(started) > ReadyTimeout)
                {
                    throw new TimeoutException($"{node.EndPoint} did not report cluster_state:ok:{Environment.NewLine}{info}");
                }

                await Task.Delay(20, cancellationToken);
            }
        }
    }

    /// <summary>Refreshes the multiplexer's view until it sees <paramref name="masters"/> connected primaries, all answering PING.</summary>
    public async Task WaitUntilConnectionSeesPrimariesAsync(int masters, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var primaries = Primaries;
            if (primaries.Count == masters && primaries.All(p => p.IsConnected))
            {
                try
                {
                    foreach (var primary in primaries)
                    {
                        await primary.PingAsync();
                    }

                    return;
                }
                catch (RedisException)
                {
                    // A node still in transition.
                }
            }

            if (Stopwatch.GetElapsedTime(started) > ReadyTimeout)
            {
                throw new TimeoutException($"The connection sees {primaries.Count} primaries, not {masters}.");
            }

            await Connection.ReconfigureAsync("fault test: waiting for the primaries");
            await Task.Delay(20, cancellationToken);
        }
    }

    /// <summary>Waits until the multiplexer's standalone server answers PING again (after a restart).</summary>
    public async Task WaitUntilReconnectedAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                await Db.PingAsync();
                return;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                if (Stopwatch.GetElapsedTime(started) > ReadyTimeout)
                {
                    throw;
                }
            }

            await Task.Delay(20, cancellationToken);
        }
    }

    public static long InfoField(string? info, string field)
    {
        foreach (var line in (info ?? string.Empty).Split('\n'))
        {
            var trimmed = line.Trim();
            if (trimmed.StartsWith(field + ":", StringComparison.Ordinal))
            {
                return long.Parse(trimmed.AsSpan(field.Length + 1), CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.CloseAsync(allowCommandsToComplete: false);
            await _connection.DisposeAsync();
        }

        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }

        await _directory.DisposeAsync();
    }

    /// <summary>A second, independent multiplexer to the same servers (the caller disposes it).</summary>
    public Task<ConnectionMultiplexer> OpenConnectionAsync() => ConnectionMultiplexer.ConnectAsync(ConnectionOptions());

    private async Task ConnectAsync() => _connection = await ConnectionMultiplexer.ConnectAsync(ConnectionOptions());

    private ConfigurationOptions ConnectionOptions()
    {
        var options = new ConfigurationOptions
        {
            AllowAdmin = true,
            AbortOnConnectFail = false,
            ConnectRetry = 5,
            ConnectTimeout = 2000,
            SyncTimeout = 5000,
            AsyncTimeout = 5000,
            ReconnectRetryPolicy = new LinearRetry(50),
        };
        foreach (var node in Nodes)
        {
            options.EndPoints.Add(node.EndPoint);
        }

        return options;
    }
}
