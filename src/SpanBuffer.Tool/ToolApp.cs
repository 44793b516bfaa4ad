using StackExchange.Redis;

namespace SpanBuffer.Tool;

/// <summary>The <c>spanbuffer</c> tool, callable in-process (tests run it without spawning a process).</summary>
internal static class ToolApp
{
    public const int ExitHealthy = 0;
    public const int ExitFindings = 1;
    public const int ExitUsage = 2;

    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TimeProvider time, CancellationToken cancellationToken) =>
        RunAsync(args, stdout, stderr, time, ToolHooks.None, cancellationToken);

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TimeProvider time, ToolHooks hooks, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (ToolOptions.IsHelp(args))
        {
            await stdout.WriteLineAsync(ToolOptions.Usage).ConfigureAwait(false);
            return ExitHealthy;
        }

        ToolOptions options;
        try
        {
            options = ToolOptions.Parse(args);
        }
        catch (UsageException ex)
        {
            await stderr.WriteLineAsync($"error: {ex.Message}{Environment.NewLine}{Environment.NewLine}{ToolOptions.Usage}").ConfigureAwait(false);
            return ExitUsage;
        }

        try
        {
            var connection = await ToolConnection.ConnectAsync(options.Redis, options.ConnectTimeoutMs).ConfigureAwait(false);
            await using var disposeConnection = connection.ConfigureAwait(false);
            var context = new ToolContext(options, connection, stdout, stderr, time, hooks, cancellationToken);
            return options.Command switch
            {
                "inspect" => await InspectCommand.RunAsync(context).ConfigureAwait(false),
                "watch" => await WatchCommand.RunAsync(context).ConfigureAwait(false),
                "check" => await CheckCommand.RunAsync(context).ConfigureAwait(false),
                "drain" => await DrainCommand.RunAsync(context).ConfigureAwait(false),
                _ => throw new UsageException($"unknown command '{options.Command}'."),
            };
        }
        catch (Exception ex) when (ex is UsageException or ConnectionException or IOException or UnauthorizedAccessException)
        {
            // Errors whose message already says what to fix: an option, the address, the output file.
            await stderr.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return ExitUsage;
        }
        catch (RedisServerException ex) when (IsClusterRedirect(ex))
        {
            await stderr.WriteLineAsync(
                $"error: Redis answered '{ex.Message}': this is a Redis Cluster, but the connection treats it as standalone; " +
                "connect with a connection string that lets the cluster be discovered (no proxy setting, CLUSTER command enabled).").ConfigureAwait(false);
            return ExitUsage;
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
        {
            await stderr.WriteLineAsync($"error: lost Redis: {ex.Message}").ConfigureAwait(false);
            return ExitUsage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await stderr.WriteLineAsync("interrupted.").ConfigureAwait(false);
            return ExitUsage;
        }
        catch (RedisException ex)
        {
            await stderr.WriteLineAsync($"error: Redis answered: {ex.Message}").ConfigureAwait(false);
            return ExitUsage;
        }
        catch (Exception ex)
        {
            // Not a finding: an operator must never read a crash as "healthy" or "findings".
            await stderr.WriteLineAsync($"error: unexpected failure, please report it: {ex}").ConfigureAwait(false);
            return ExitUsage;
        }
    }

    private static bool IsClusterRedirect(RedisServerException ex) =>
        ex.Message.StartsWith("MOVED", StringComparison.Ordinal)
        || ex.Message.StartsWith("ASK", StringComparison.Ordinal)
        || ex.Message.StartsWith("CROSSSLOT", StringComparison.Ordinal)
        || ex.Message.StartsWith("CLUSTERDOWN", StringComparison.Ordinal);
}
