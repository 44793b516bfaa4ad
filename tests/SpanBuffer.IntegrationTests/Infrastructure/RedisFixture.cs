using StackExchange.Redis;

namespace SpanBuffer.IntegrationTests.Infrastructure;

/// <summary>
/// A Redis deployment shared by the whole test run (an xunit assembly fixture). It finds Redis in this order:
/// <list type="number">
/// <item>the connection string in an environment variable (<c>SPANBUFFER_TEST_REDIS</c>, or
/// <c>SPANBUFFER_TEST_REDIS_CLUSTER</c> for the cluster);</item>
/// <item><c>redis-server</c> on PATH: the fixture starts its own servers on free loopback ports and stops
/// them on dispose;</item>
/// <item>Testcontainers (standalone only), where a Docker engine answers.</item>
/// </list>
/// When none works, <see cref="UnavailableReason"/> says what was tried; <see cref="RedisTestBase"/> then
/// skips the test, or fails it on CI or when Redis was found but could not be used.
/// </summary>
public abstract class RedisFixture : IAsyncLifetime
{
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(60);

    private readonly string _environmentVariable;
    private readonly List<IAsyncDisposable> _owned = [];
    private ConnectionMultiplexer? _connection;

    private protected RedisFixture(RedisTopology topology, string environmentVariable)
    {
        Topology = topology;
        _environmentVariable = environmentVariable;
    }

    public RedisTopology Topology { get; }

    /// <summary>The shared connection (AllowAdmin). Only valid when <see cref="UnavailableReason"/> is null.</summary>
    public IConnectionMultiplexer Connection =>
        _connection ?? throw new InvalidOperationException($"Redis ({Topology}) is unavailable: {UnavailableReason}");

    /// <summary>A StackExchange.Redis connection string for the deployment (endpoints, plus options if configured).</summary>
    public string ConnectionString { get; private set; } = string.Empty;

    /// <summary>Null when Redis is available; otherwise what was tried and how to fix it.</summary>
    public string? UnavailableReason { get; private set; } = "The fixture has not been initialized.";

    /// <summary>
    /// True when Redis was configured or found but could not be used (a bad connection string, a server that
    /// would not start): tests fail rather than skip, also outside CI.
    /// </summary>
    public bool FailInsteadOfSkip { get; private set; }

    /// <summary>Where Redis came from, for diagnostics (e.g. "redis-server started by the fixture").</summary>
    public string Source { get; private set; } = "none";

    /// <summary>The primary servers: one for standalone, every slot-owning primary for a cluster.</summary>
    public IEnumerable<IServer> Primaries
    {
        get
        {
            var connection = Connection;
            var servers = connection.GetServers();
            if (Topology == RedisTopology.Standalone)
            {
                return servers.Where(server => server.IsConnected && !server.IsReplica).ToArray();
            }

            // Seeds given by host name and endpoints discovered from CLUSTER NODES can name the same node
            // twice, so take the primaries from the cluster's own view.
            var nodes = servers
                .Where(server => server.IsConnected)
                .Select(server => server.ClusterConfiguration)
                .FirstOrDefault(configuration => configuration is not null)?.Nodes
                ?? [];
            return nodes
                .Where(node => !node.IsReplica && node.Slots.Count > 0 && node.EndPoint is not null)
                .Select(node => connection.GetServer(node.EndPoint!))
                .ToArray();
        }
    }

    /// <summary>SCANs every primary and returns all keys matching <paramref name="pattern"/> (glob-style).</summary>
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

    public async ValueTask InitializeAsync()
    {
        using var deadline = new CancellationTokenSource(StartDeadline);
        var tried = new List<string>();

        var configured = Environment.GetEnvironmentVariable(_environmentVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            await UseAsync($"{_environmentVariable}={Redact(configured)}", _ => Task.FromResult<string?>(configured), deadline.Token);
            return;
        }

        tried.Add($"{_environmentVariable} is not set");

        var redisServer = Executables.Find("redis-server");
        if (redisServer is not null)
        {
            await UseAsync($"{redisServer} started by the fixture", async token => await StartServersAsync(redisServer, token), deadline.Token);
            return;
        }

        tried.Add("redis-server is not on PATH");

        string? containerNotUsed = null;
        var containerUsed = await UseAsync(
            "Testcontainers",
            async token =>
            {
                var (connectionString, whyNot) = await TryStartContainerAsync(token);
                containerNotUsed = whyNot;
                return connectionString;
            },
            deadline.Token);
        if (containerUsed || FailInsteadOfSkip)
        {
            return;
        }

        tried.Add(containerNotUsed ?? "Testcontainers was not tried");
        UnavailableReason =
            $"No Redis ({Topology}) found. Tried: {string.Join("; ", tried)}. " +
            $"Fix: install redis-server (Debian/Ubuntu: apt-get install -y redis-server, which brings redis-cli), " +
            $"or set {_environmentVariable} to a StackExchange.Redis connection string" +
            (Topology == RedisTopology.Cluster ? " with one or more seed endpoints of a cluster." : ".");
    }

    public async ValueTask DisposeAsync()
    {
        await ReleaseAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>Starts this topology's own servers from <paramref name="redisServer"/> and returns a connection string.</summary>
    private protected abstract Task<string> StartServersAsync(string redisServer, CancellationToken cancellationToken);

    /// <summary>
    /// Starts a container where the topology supports it. Returns a connection string, or null and why not
    /// (no Docker engine, topology not supported). Throws when an engine answered but the container failed.
    /// </summary>
    private protected virtual Task<(string? ConnectionString, string? WhyNot)> TryStartContainerAsync(CancellationToken cancellationToken) =>
        Task.FromResult<(string?, string?)>((null, $"Testcontainers is not used for {Topology}"));

    /// <summary>Waits until the connection sees the whole deployment (e.g. every cluster primary).</summary>
    private protected virtual Task WaitUntilReadyAsync(ConnectionMultiplexer connection, CancellationToken cancellationToken) =>
        Task.CompletedTask;

    /// <summary>Stops <paramref name="resource"/> (a server, a container, a directory) when the fixture is disposed.</summary>
    private protected T Own<T>(T resource)
        where T : IAsyncDisposable
    {
        _owned.Add(resource);
        return resource;
    }

    /// <summary>
    /// Connects to what <paramref name="start"/> provides and waits until it is ready. Returns false when
    /// <paramref name="start"/> returns null (nothing to use); on any error, records it as a failure.
    /// </summary>
    private async Task<bool> UseAsync(string source, Func<CancellationToken, Task<string?>> start, CancellationToken cancellationToken)
    {
        try
        {
            var connectionString = await start(cancellationToken);
            if (connectionString is null)
            {
                await ReleaseAsync();
                return false;
            }

            Source = source;
            var options = ConfigurationOptions.Parse(connectionString);
            options.AllowAdmin = true;
            options.AbortOnConnectFail = true;
            _connection = await ConnectionMultiplexer.ConnectAsync(options);
            EnsureTopology(_connection);
            await WaitUntilReadyAsync(_connection, cancellationToken);
            ConnectionString = connectionString;
            UnavailableReason = null;
            return true;
        }
        catch (Exception ex)
        {
            var reason = $"Redis ({Topology}) from {source} could not be used: {Describe(ex)}";
            try
            {
                await ReleaseAsync();
            }
            catch (Exception cleanup)
            {
                reason += $" Cleaning up also failed: {Describe(cleanup)}";
            }

            FailInsteadOfSkip = true;
            UnavailableReason = reason;
            return false;
        }
    }

    private void EnsureTopology(ConnectionMultiplexer connection)
    {
        var expected = Topology == RedisTopology.Cluster ? ServerType.Cluster : ServerType.Standalone;
        var found = connection.GetServers().Where(server => server.IsConnected).Select(server => server.ServerType).Distinct().ToArray();
        if (!found.Contains(expected))
        {
            throw new InvalidOperationException(
                $"expected a {expected} server but found {string.Join(", ", found)}" +
                " (SPANBUFFER_TEST_REDIS is for standalone Redis, SPANBUFFER_TEST_REDIS_CLUSTER for a cluster).");
        }
    }

    /// <summary>Closes the connection, then stops what the fixture started, newest first (servers before their directory).</summary>
    private async Task ReleaseAsync()
    {
        var errors = new List<Exception>();
        if (_connection is not null)
        {
            try
            {
                await _connection.CloseAsync(allowCommandsToComplete: false);
                await _connection.DisposeAsync();
            }
            catch (Exception ex)
            {
                errors.Add(ex);
            }

            _connection = null;
        }

        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            try
            {
                await _owned[i].DisposeAsync();
            }
            catch (Exception ex)
            {
                errors.Add(ex);
            }
        }

        _owned.Clear();
        if (errors.Count > 0)
        {
            throw new AggregateException($"Stopping Redis ({Topology}) failed.", errors);
        }
    }

    private static string Redact(string connectionString)
    {
        try
        {
            return ConfigurationOptions.Parse(connectionString).ToString(includePassword: false);
        }
        catch (ArgumentException)
        {
            return "(not a valid connection string)";
        }
    }

    private static string Describe(Exception ex)
    {
        var message = $"{ex.GetType().Name}: {ex.Message}";
        for (var inner = ex.InnerException; inner is not null; inner = inner.InnerException)
        {
            message += $" ---> {inner.GetType().Name}: {inner.Message}";
        }

        return message;
    }
}
