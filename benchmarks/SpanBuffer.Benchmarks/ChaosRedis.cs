using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace SpanBuffer.Benchmarks;

/// <summary>
/// The chaos run's own redis-server: a free loopback port, a temporary directory, <c>--appendonly yes --appendfsync
/// always</c>, so a kill -9 loses nothing that was acknowledged. <see cref="RestartAsync"/> kills it with SIGKILL and
/// starts it again on the same port and directory; disposing kills it and deletes the directory.
/// </summary>
internal sealed class ChaosRedis : IAsyncDisposable
{
    private readonly string _executable;
    private readonly Lock _gate = new();
    private Process? _process;

    private ChaosRedis(string executable, string directory, int port)
    {
        _executable = executable;
        Directory = directory;
        Port = port;
        AppDomain.CurrentDomain.ProcessExit += KillOnExit;
    }

    public int Port { get; }

    public string Directory { get; }

    public string EndPoint => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    public int Restarts { get; private set; }

    public static async Task<ChaosRedis> StartAsync(string executable, CancellationToken cancellationToken)
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("spanbuffer-chaos-redis-").FullName;
        for (var attempt = 1; ; attempt++)
        {
            var server = new ChaosRedis(executable, directory, PickFreePort());
            try
            {
                await server.LaunchAsync(cancellationToken);
                return server;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                // Most likely the port was taken between picking and binding: try another one.
                AppDomain.CurrentDomain.ProcessExit -= server.KillOnExit;
                server.KillProcess();
            }
        }
    }

    /// <summary>kill -9, then the same command line again; returns when the server answers PING (AOF loaded).</summary>
    public async Task RestartAsync(TimeSpan downtime, CancellationToken cancellationToken)
    {
        KillProcess();
        await Task.Delay(downtime, cancellationToken);
        await LaunchAsync(cancellationToken);
        Restarts++;
    }

    /// <summary>Makes sure a server is running (after a restart that was interrupted).</summary>
    public async Task EnsureRunningAsync(CancellationToken cancellationToken)
    {
        bool running;
        lock (_gate)
        {
            running = _process is { HasExited: false };
        }

        if (!running)
        {
            await LaunchAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= KillOnExit;
        KillProcess();
        await Task.Yield();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A temporary directory: best effort.
        }
    }

    /// <summary>No redis-server outlives the run, even when it ends without disposing.</summary>
    private void KillOnExit(object? sender, EventArgs e) => KillProcess();

    private void KillProcess()
    {
        Process? process;
        lock (_gate)
        {
            process = _process;
            _process = null;
        }

        if (process is null)
        {
            return;
        }

        try
        {
            // SIGKILL on Unix: no shutdown, no final AOF rewrite.
            process.Kill();
            process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
            // It had exited already.
        }

        process.Dispose();
    }

    private async Task LaunchAsync(CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(_executable)
        {
            WorkingDirectory = Directory,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        string[] arguments =
        [
            "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", Directory,
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no", "--loglevel", "warning",
        ];
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"could not start {_executable}");
        process.StandardInput.Close();
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => Remember(log, e.Data);
        process.ErrorDataReceived += (_, e) => Remember(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (_gate)
        {
            _process = process;
        }

        var deadline = Stopwatch.GetTimestamp() + (long)(30 * Stopwatch.Frequency);
        while (!await PingAsync(cancellationToken))
        {
            if (process.HasExited || Stopwatch.GetTimestamp() > deadline)
            {
                throw new InvalidOperationException($"redis-server on port {Port} did not come up:{Environment.NewLine}{string.Join(Environment.NewLine, log)}");
            }

            await Task.Delay(25, cancellationToken);
        }
    }

    private static void Remember(System.Collections.Concurrent.ConcurrentQueue<string> log, string? line)
    {
        if (line is not null && log.Count < 200)
        {
            log.Enqueue(line);
        }
    }

    /// <summary>True once the server answers +PONG (while it loads the AOF it answers -LOADING).</summary>
    private async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Port), timeout.Token);
            await socket.SendAsync("PING\r\n"u8.ToArray(), SocketFlags.None, timeout.Token);
            var buffer = new byte[64];
            var received = 0;
            while (received < buffer.Length)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None, timeout.Token);
                if (read == 0)
                {
                    break;
                }

                received += read;
                if (buffer.AsSpan(0, received).IndexOf("\r\n"u8) >= 0)
                {
                    break;
                }
            }

            return buffer.AsSpan(0, received).StartsWith("+PONG"u8);
        }
        catch (Exception ex) when (ex is SocketException or IOException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    private static int PickFreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
