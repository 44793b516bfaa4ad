using System.Net;
using StackExchange.Redis;

namespace SpanBuffer.Demo;

/// <summary>
/// The Redis a run uses: either one the demo started (and stops), or one given with <c>--redis</c>, which the
/// demo only uses when nothing is stored under the key prefix yet (so the accounts can close, and nobody's
/// data is flushed into the output file).
/// </summary>
internal sealed class RedisTarget : IAsyncDisposable
{
    private readonly LocalRedisServer? _server;

    private RedisTarget(ConnectionMultiplexer connection, LocalRedisServer? server, string description)
    {
        Connection = connection;
        _server = server;
        Description = description;
    }

    public ConnectionMultiplexer Connection { get; }

    public string Description { get; }

    /// <summary>Connects to <paramref name="connectionString"/>, or starts a local redis-server when it is null.</summary>
    /// <exception cref="SetupException">No redis-server to start, an invalid connection string, or Redis cannot be reached.</exception>
    public static async Task<RedisTarget> OpenAsync(string? connectionString, string keyPrefix, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (connectionString is not null)
        {
            var connection = await ConnectAsync(connectionString).ConfigureAwait(false);
            try
            {
                await EnsureNoKeysAsync(connection, keyPrefix, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            var kind = connection.GetServers().Any(s => s.ServerType == ServerType.Cluster) ? "cluster" : "standalone";
            var seeds = string.Join(",", connection.GetEndPoints(configuredOnly: true).Select(e => e is DnsEndPoint dns ? $"{dns.Host}:{dns.Port}" : e.ToString()));
            return new RedisTarget(connection, null, $"{seeds} ({kind}, given with --redis)");
        }

        var executable = LocalRedisServer.FindExecutable() ?? throw new SetupException(LocalRedisServer.InstallHint);
        LocalRedisServer server;
        try
        {
            server = await LocalRedisServer.StartAsync(executable, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            throw new SetupException($"Could not start {executable}: {ex.Message}");
        }

        try
        {
            await stderr.WriteLineAsync($"Started redis-server (pid {server.ProcessId}, directory {server.WorkingDirectory}) on {server.EndPoint}; it is stopped at exit.").ConfigureAwait(false);
            var connection = await ConnectAsync(server.EndPoint).ConfigureAwait(false);
            return new RedisTarget(connection, server, $"{server.EndPoint} (local redis-server started by the demo, pid {server.ProcessId})");
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Closes the connection, then stops the local server if the demo started one.</summary>
    public async ValueTask DisposeAsync()
    {
        await Connection.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
        await Connection.DisposeAsync().ConfigureAwait(false);
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task<ConnectionMultiplexer> ConnectAsync(string connectionString)
    {
        ConfigurationOptions configuration;
        try
        {
            configuration = ConfigurationOptions.Parse(connectionString);
        }
        catch (ArgumentException ex)
        {
            throw new SetupException($"--redis '{connectionString}' is not a valid StackExchange.Redis connection string: {ex.Message}");
        }

        configuration.AbortOnConnectFail = true;
        configuration.ClientName ??= "spanbuffer-demo";
        try
        {
            return await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
        }
        catch (RedisConnectionException ex)
        {
            throw new SetupException($"Could not connect to Redis at '{connectionString}': {ex.Message}");
        }
    }

    private static async Task EnsureNoKeysAsync(ConnectionMultiplexer connection, string keyPrefix, CancellationToken cancellationToken)
    {
        foreach (var server in connection.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            await foreach (var key in server.KeysAsync(pattern: keyPrefix + ":*", pageSize: 1000).WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                throw new SetupException(
                    $"Redis at {server.EndPoint} already holds keys under the prefix '{keyPrefix}' (e.g. '{key}'). The demo only runs " +
                    $"on an empty prefix, so that what it flushes is what it ingested: pass --SpanBuffer:KeyPrefix=<another prefix>, " +
                    $"delete those keys, or omit --redis to use a local redis-server.");
            }
        }
    }
}
