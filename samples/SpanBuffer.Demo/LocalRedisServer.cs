using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SpanBuffer.Demo;

/// <summary>
/// A <c>redis-server</c> the demo starts for itself: a free loopback port, no persistence
/// (<c>--save '' --appendonly no</c>), a temporary working directory. Disposing stops it by its process id and
/// deletes the directory; it is also killed if the process exits without disposing it.
/// </summary>
internal sealed class LocalRedisServer : IAsyncDisposable
{
    public const string InstallHint =
        "redis-server was not found on PATH. Install it (Debian/Ubuntu: sudo apt-get install redis-server; " +
        "macOS: brew install redis), or point the demo at a running Redis with --redis HOST:PORT.";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private const int MaxAttempts = 3;

    private readonly Process _process;
    private readonly string _directory;
    private readonly StringBuilder _output = new();
    private readonly EventHandler _killOnExit;

    private LocalRedisServer(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
        _killOnExit = (_, _) => Kill();
        AppDomain.CurrentDomain.ProcessExit += _killOnExit;
        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Port { get; }

    /// <summary>Gets the temporary working directory (deleted on dispose).</summary>
    public string WorkingDirectory => _directory;

    public int ProcessId => _process.Id;

    public string EndPoint => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    /// <summary>Returns the full path of <c>redis-server</c> on PATH, or null.</summary>
    public static string? FindExecutable()
    {
        var name = OperatingSystem.IsWindows() ? "redis-server.exe" : "redis-server";
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Starts <paramref name="executable"/> and waits until it answers PING; retries on another port if the chosen one was taken.</summary>
    public static async Task<LocalRedisServer> StartAsync(string executable, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var directory = Directory.CreateTempSubdirectory("spanbuffer-demo-redis-").FullName;
            LocalRedisServer server;
            try
            {
                server = Launch(executable, directory, FreePort());
            }
            catch
            {
                Directory.Delete(directory, recursive: true);
                throw;
            }

            try
            {
                await server.WaitUntilReadyAsync(cancellationToken).ConfigureAwait(false);
                return server;
            }
            catch (Exception) when (attempt < MaxAttempts && server.Output.Contains("Address already in use", StringComparison.Ordinal))
            {
                await server.DisposeAsync().ConfigureAwait(false);
            }
            catch
            {
                await server.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= _killOnExit;

        // Nothing to lose: no persistence, and the directory goes next.
        Kill();
        await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort; it is a temporary directory.
        }
    }

    private string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    private static LocalRedisServer Launch(string executable, string directory, int port)
    {
        var startInfo = new ProcessStartInfo(executable)
        {
            WorkingDirectory = directory,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[]
                 {
                     "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--daemonize", "no", "--dir", directory, "--loglevel", "warning",
                 })
        {
            startInfo.ArgumentList.Add(argument);
        }

        var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"Could not start {executable}.");
        process.StandardInput.Close();
        return new LocalRedisServer(process, directory, port);
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            if (_process.HasExited)
            {
                await _process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
                throw new InvalidOperationException($"redis-server exited with code {_process.ExitCode} during startup:{Environment.NewLine}{Output}");
            }

            if (await AnswersPingAsync(cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            if (Stopwatch.GetElapsedTime(started) > StartTimeout)
            {
                throw new TimeoutException($"redis-server on port {Port} did not answer PING within {StartTimeout.TotalSeconds:0} s:{Environment.NewLine}{Output}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<bool> AnswersPingAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port, timeout.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync("*1\r\n$4\r\nPING\r\n"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            var reply = new byte[7];
            var read = await stream.ReadAtLeastAsync(reply, reply.Length, throwOnEndOfStream: false, timeout.Token).ConfigureAwait(false);
            return reply.AsSpan(0, read).SequenceEqual("+PONG\r\n"u8);
        }
        catch (Exception ex) when (ex is SocketException or IOException
                                   || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    private void Collect(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private void Kill()
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
