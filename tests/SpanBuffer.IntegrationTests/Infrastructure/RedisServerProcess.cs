using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace SpanBuffer.IntegrationTests.Infrastructure;

/// <summary>
/// One <c>redis-server</c> child process on a free loopback port, without persistence, answering PING once
/// <see cref="StartAsync"/> returns. Disposing shuts it down (SHUTDOWN NOSAVE, then kill) and waits for it
/// to exit; the process is also killed if the test host exits without disposing it.
/// </summary>
internal sealed class RedisServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);
    private const int MaxStartAttempts = 3;

    private readonly Process _process;
    private readonly ProcessOutput _output;
    private readonly EventHandler _killOnHostExit;

    private RedisServerProcess(Process process, ProcessOutput output, int port)
    {
        _process = process;
        _output = output;
        Port = port;
        _killOnHostExit = (_, _) => KillQuietly();
        AppDomain.CurrentDomain.ProcessExit += _killOnHostExit;
    }

    public int Port { get; }

    public string EndPoint => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    /// <summary>What the server printed so far (its log goes to stdout).</summary>
    public string Output => _output.ToString();

    /// <summary>
    /// Starts <paramref name="executable"/> with its working files in <paramref name="directory"/> and waits
    /// until it answers PING. Retries on another port when the chosen one was taken in the meantime.
    /// </summary>
    public static async Task<RedisServerProcess> StartAsync(
        string executable, string directory, bool clusterEnabled, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePorts.Next(withClusterBusPort: clusterEnabled);
            var server = Launch(executable, directory, port, clusterEnabled);
            try
            {
                await server.WaitUntilAnsweringAsync(cancellationToken);
                return server;
            }
            catch (Exception) when (attempt < MaxStartAttempts && server._output.Contains("Address already in use"))
            {
                await server.DisposeAsync();
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= _killOnHostExit;
        try
        {
            if (!_process.HasExited)
            {
                try
                {
                    // On success the server closes the connection without a reply.
                    await RespProbe.SendAsync(Port, TimeSpan.FromSeconds(2), CancellationToken.None, "SHUTDOWN", "NOSAVE");
                }
                catch (Exception)
                {
                    // Killed below if it is still running.
                }

                using var cts = new CancellationTokenSource(StopTimeout);
                try
                {
                    await _process.WaitForExitAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    KillQuietly();
                    await _process.WaitForExitAsync(CancellationToken.None);
                }
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static RedisServerProcess Launch(string executable, string directory, int port, bool clusterEnabled)
    {
        var portText = port.ToString(CultureInfo.InvariantCulture);
        var startInfo = new ProcessStartInfo(executable) { WorkingDirectory = directory };
        string[] arguments =
        [
            "--port", portText,
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", directory,
        ];
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (clusterEnabled)
        {
            startInfo.ArgumentList.Add("--cluster-enabled");
            startInfo.ArgumentList.Add("yes");
            startInfo.ArgumentList.Add("--cluster-config-file");
            startInfo.ArgumentList.Add(Path.Combine(directory, $"nodes-{portText}.conf"));
        }

        var (process, output) = ProcessOutput.Start(startInfo);
        return new RedisServerProcess(process, output, port);
    }

    private async Task WaitUntilAnsweringAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            if (_process.HasExited)
            {
                await _process.WaitForExitAsync(cancellationToken); // drains the output
                throw new InvalidOperationException(
                    $"redis-server on port {Port} exited with code {_process.ExitCode} during startup. Output:{Environment.NewLine}{Output}");
            }

            try
            {
                var reply = await RespProbe.SendAsync(Port, TimeSpan.FromSeconds(1), cancellationToken, "PING");
                if (reply == "PONG")
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException
                                       || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                // Not listening yet.
            }

            if (Stopwatch.GetElapsedTime(started) > StartTimeout)
            {
                throw new TimeoutException(
                    $"redis-server on port {Port} did not answer PING within {StartTimeout.TotalSeconds:0} s. Output:{Environment.NewLine}{Output}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
        }
    }

    private void KillQuietly()
    {
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }
}
