using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.FaultTests.Infrastructure;

/// <summary>
/// One <c>redis-server</c> a fault test owns: unlike the shared fixtures' servers it can be killed with SIGKILL and
/// restarted on the same port and directory (so an AOF or a cluster node config survives), and it takes extra
/// configuration (persistence, cluster timeouts). Disposing kills it.
/// </summary>
internal sealed class RedisNode : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    private readonly string _executable;
    private readonly string[] _extraArguments;
    private readonly bool _clusterEnabled;
    private readonly EventHandler _killOnHostExit;
    private Process? _process;
    private ProcessOutput? _output;

    private RedisNode(string executable, string directory, int port, bool clusterEnabled, string[] extraArguments)
    {
        _executable = executable;
        Directory = directory;
        Port = port;
        _clusterEnabled = clusterEnabled;
        _extraArguments = extraArguments;
        _killOnHostExit = (_, _) => KillQuietly();
        AppDomain.CurrentDomain.ProcessExit += _killOnHostExit;
    }

    public int Port { get; }

    public string Directory { get; }

    public string EndPoint => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    public string Output => _output?.ToString() ?? string.Empty;

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Starts a node in its own sub-directory of <paramref name="parentDirectory"/> and waits until it answers PING.</summary>
    public static async Task<RedisNode> StartAsync(string parentDirectory, bool clusterEnabled, string[] extraArguments, CancellationToken cancellationToken)
    {
        var executable = Executables.Find("redis-server") ?? throw new InvalidOperationException("redis-server is not on PATH.");
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePorts.Next(withClusterBusPort: clusterEnabled);
            var directory = Path.Combine(parentDirectory, port.ToString(CultureInfo.InvariantCulture));
            System.IO.Directory.CreateDirectory(directory);
            var node = new RedisNode(executable, directory, port, clusterEnabled, extraArguments);
            try
            {
                await node.RestartAsync(cancellationToken);
                return node;
            }
            catch (Exception) when (attempt < 3 && node.Output.Contains("Address already in use", StringComparison.Ordinal))
            {
                await node.DisposeAsync();
            }
            catch
            {
                await node.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>SIGKILL: no shutdown, no final fsync, no save.</summary>
    public async Task KillAsync()
    {
        if (_process is { } process)
        {
            KillQuietly();
            await process.WaitForExitAsync(CancellationToken.None);
            process.Dispose();
            _process = null;
        }
    }

    /// <summary>(Re)starts the server on the same port and directory and waits until PING answers PONG (not LOADING).</summary>
    public async Task RestartAsync(CancellationToken cancellationToken)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"redis-server {EndPoint} is still running.");
        }

        var startInfo = new ProcessStartInfo(_executable) { WorkingDirectory = Directory };
        string[] arguments =
        [
            "--port", Port.ToString(CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", Directory,
            .. _clusterEnabled ? ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"] : Array.Empty<string>(),
            .. _extraArguments,
        ];
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        (_process, _output) = ProcessOutput.Start(startInfo);
        await WaitUntilAnsweringAsync(_process, cancellationToken);
    }

    /// <summary>Sends one command over a fresh socket (before or beside a multiplexer).</summary>
    public Task<string?> SendAsync(CancellationToken cancellationToken, params string[] command) =>
        RespProbe.SendAsync(Port, TimeSpan.FromSeconds(5), cancellationToken, command);

    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= _killOnHostExit;
        await KillAsync();
    }

    private async Task WaitUntilAnsweringAsync(Process process, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync(cancellationToken);
                throw new InvalidOperationException($"redis-server {EndPoint} exited with code {process.ExitCode}. Output:{Environment.NewLine}{Output}");
            }

            try
            {
                if (await RespProbe.SendAsync(Port, TimeSpan.FromSeconds(1), cancellationToken, "PING") == "PONG")
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException or InvalidOperationException
                                       || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                // Not listening yet, or still loading its AOF (-LOADING).
            }

            if (Stopwatch.GetElapsedTime(started) > StartTimeout)
            {
                throw new TimeoutException($"redis-server {EndPoint} did not answer PING within {StartTimeout.TotalSeconds:0} s. Output:{Environment.NewLine}{Output}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
        }
    }

    private void KillQuietly()
    {
        try
        {
            _process?.Kill(); // SIGKILL on Unix
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }
}
