using System.Diagnostics;

namespace SpanBuffer.IntegrationTests.Infrastructure;

/// <summary>
/// Collects a child process's stdout and stderr (the last lines of both, interleaved) so a failure can say
/// what the process printed.
/// </summary>
internal sealed class ProcessOutput
{
    private const int MaxLines = 200;
    private readonly Lock _gate = new();
    private readonly Queue<string> _lines = new();

    /// <summary>Starts <paramref name="startInfo"/> with stdin closed and both output streams collected.</summary>
    public static (Process Process, ProcessOutput Output) Start(ProcessStartInfo startInfo)
    {
        startInfo.UseShellExecute = false;
        startInfo.RedirectStandardInput = true;
        startInfo.RedirectStandardOutput = true;
        startInfo.RedirectStandardError = true;
        var output = new ProcessOutput();
        var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) => output.Add(e.Data);
        process.ErrorDataReceived += (_, e) => output.Add(e.Data);
        try
        {
            process.Start();
        }
        catch
        {
            process.Dispose();
            throw;
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, output);
    }

    /// <summary>Runs a program to completion and returns its exit code and output.</summary>
    /// <exception cref="TimeoutException">It did not finish within <paramref name="timeout"/>; it is killed.</exception>
    public static async Task<(int ExitCode, string Output)> RunAsync(
        string executable, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(executable);
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        var (process, output) = Start(startInfo);
        using (process)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
                cancellationToken.ThrowIfCancellationRequested();
                throw new TimeoutException(
                    $"{Path.GetFileName(executable)} did not finish within {timeout.TotalSeconds:0} s. Output:{Environment.NewLine}{output}");
            }

            return (process.ExitCode, output.ToString());
        }
    }

    public bool Contains(string text)
    {
        lock (_gate)
        {
            return _lines.Any(line => line.Contains(text, StringComparison.Ordinal));
        }
    }

    public override string ToString()
    {
        lock (_gate)
        {
            return string.Join(Environment.NewLine, _lines);
        }
    }

    private void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            _lines.Enqueue(line);
            if (_lines.Count > MaxLines)
            {
                _lines.Dequeue();
            }
        }
    }
}
