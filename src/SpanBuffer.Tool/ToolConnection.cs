using StackExchange.Redis;

namespace SpanBuffer.Tool;

/// <summary>
/// The tool's own connection. It adds <c>allowAdmin</c> to the user's configuration (INFO and SCRIPT EXISTS need it)
/// so the user's connection string never has to, and refuses a cluster node that the connection sees as standalone.
/// </summary>
internal sealed class ToolConnection : IAsyncDisposable
{
    private ToolConnection(ConnectionMultiplexer redis, bool isCluster, IReadOnlyList<IServer> primaries)
    {
        Redis = redis;
        IsCluster = isCluster;
        Primaries = primaries;
    }

    public ConnectionMultiplexer Redis { get; }

    public bool IsCluster { get; }

    /// <summary>Gets the primaries: the server of a standalone deployment, or every slot-owning cluster primary.</summary>
    public IReadOnlyList<IServer> Primaries { get; }

    public static async Task<ToolConnection> ConnectAsync(string configuration, int connectTimeoutMs)
    {
        ConfigurationOptions options;
        try
        {
            options = ConfigurationOptions.Parse(configuration);
        }
        catch (ArgumentException ex)
        {
            throw new UsageException($"--redis '{configuration}' is not a StackExchange.Redis configuration string: {ex.Message}");
        }

        if (options.EndPoints.Count == 0)
        {
            throw new UsageException($"--redis '{configuration}' names no endpoint (e.g. localhost:6379).");
        }

        options.AllowAdmin = true;
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = connectTimeoutMs;
        options.ConnectRetry = 1;
        var endpoints = string.Join(",", options.EndPoints.Select(e => e.ToString()));
        ConnectionMultiplexer redis;
        try
        {
            redis = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        }
        catch (RedisConnectionException ex)
        {
            throw new ConnectionException($"could not connect to Redis at {endpoints}: {FirstLine(ex.Message)}", ex);
        }

        try
        {
            var servers = redis.GetServers().Where(s => s.IsConnected).ToList();
            var isCluster = servers.Any(s => s.ServerType == ServerType.Cluster);
            if (!isCluster)
            {
                foreach (var server in servers)
                {
                    var info = await server.InfoAsync("cluster").ConfigureAwait(false);
                    if (info.SelectMany(g => g).Any(kv => kv.Key == "cluster_enabled" && kv.Value == "1"))
                    {
                        throw new ConnectionException(
                            $"{server.EndPoint} is a Redis Cluster node (cluster_enabled:1), but the connection treats it as standalone; " +
                            "check the connection string (a proxy setting or a disabled CLUSTER command) so the cluster is discovered.");
                    }
                }
            }

            var primaries = isCluster ? ClusterPrimaries(redis, servers) : servers.Where(s => !s.IsReplica).ToList();
            if (primaries.Count == 0)
            {
                throw new ConnectionException($"connected to {endpoints}, but no primary answers.");
            }

            return new ToolConnection(redis, isCluster, primaries);
        }
        catch
        {
            await redis.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask DisposeAsync() => Redis.DisposeAsync();

    private const int ClusterSlots = 16384;

    /// <summary>
    /// The slot-owning primaries from the cluster's own view (seeds and the view can name one node twice). Refuses a
    /// cluster whose layout the connection cannot read or whose primaries it cannot all reach: every scan would then
    /// see only part of the keys.
    /// </summary>
    private static List<IServer> ClusterPrimaries(ConnectionMultiplexer redis, List<IServer> servers)
    {
        var configuration = servers.Select(s => s.ClusterConfiguration).FirstOrDefault(c => c is not null);
        var nodes = configuration?.Nodes.Where(n => !n.IsReplica && n.Slots.Count > 0 && n.EndPoint is not null).ToList() ?? [];
        var primaries = nodes.Select(n => (Node: n, Server: redis.GetServer(n.EndPoint!))).Where(p => p.Server.IsConnected).ToList();
        var covered = primaries.Sum(p => p.Node.Slots.Sum(r => r.To - r.From + 1));
        if (covered < ClusterSlots)
        {
            var seed = servers.FirstOrDefault()?.EndPoint?.ToString() ?? "the seed";
            throw new ConnectionException(
                $"{seed} belongs to a Redis Cluster, but the connection cannot read the cluster's layout " +
                $"({(configuration is null ? "CLUSTER NODES is unavailable" : $"the reachable primaries cover {covered} of {ClusterSlots} slots")}), " +
                "so it treats the node as standalone and would see only part of the keys; use a connection string that lets the " +
                "client discover the cluster (CLUSTER command enabled, no proxy setting, every primary reachable).");
        }

        return primaries.Select(p => p.Server).ToList();
    }

    private static string FirstLine(string text)
    {
        var end = text.IndexOfAny(['\r', '\n']);
        return end < 0 ? text : text[..end];
    }
}
