using Microsoft.Extensions.Options;

namespace SpanBuffer.Demo;

/// <summary>
/// The demo, callable in-process: spans from a JSONL file or a generated workload go through a
/// <see cref="SpansBuffer"/> in Redis, a live <see cref="SpanFlusher"/> writes finished segments to a file, the
/// buffer is drained at the end of input, and a summary checks that every span is accounted for.
/// </summary>
public static class DemoApp
{
    public const int ExitAccountsClose = 0;
    public const int ExitAccountsDoNotClose = 1;
    public const int ExitUsage = 2;
    public const int ExitInterrupted = 130;

    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan StopGraceWhenInterrupted = TimeSpan.FromSeconds(2);

    /// <summary>Runs the demo with <paramref name="args"/> (see <see cref="DemoOptionsParser.Usage"/>).</summary>
    /// <param name="args">The command line.</param>
    /// <param name="stdout">Receives the usage text (with --help) and the summary.</param>
    /// <param name="stderr">Receives progress, warnings and errors.</param>
    /// <param name="cancellationToken">Interrupts the run (Ctrl+C): the flusher and a local redis-server are stopped.</param>
    /// <returns>0 when the accounts close, 1 when they do not or the run failed, 2 for a usage or setup error, 130 when interrupted.</returns>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        stderr = TextWriter.Synchronized(stderr ?? throw new ArgumentNullException(nameof(stderr)));
        if (DemoOptionsParser.IsHelp(args))
        {
            await stdout.WriteLineAsync(DemoOptionsParser.Usage).ConfigureAwait(false);
            return ExitAccountsClose;
        }

        try
        {
            var options = DemoOptionsParser.Parse(args, Environment.CurrentDirectory);
            return await RunAsync(options, stdout, stderr, cancellationToken).ConfigureAwait(false);
        }
        catch (UsageException ex)
        {
            await stderr.WriteLineAsync($"error: {ex.Message}{Environment.NewLine}{Environment.NewLine}{DemoOptionsParser.Usage}").ConfigureAwait(false);
            return ExitUsage;
        }
        catch (SetupException ex)
        {
            await stderr.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return ExitUsage;
        }
        catch (OptionsValidationException ex)
        {
            await stderr.WriteLineAsync($"error: invalid --SpanBuffer options: {ex.Message}").ConfigureAwait(false);
            return ExitUsage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await stderr.WriteLineAsync("Interrupted before the run started.").ConfigureAwait(false);
            return ExitInterrupted;
        }
        catch (Exception ex)
        {
            await stderr.WriteLineAsync($"error: the run failed: {ex}").ConfigureAwait(false);
            return ExitAccountsDoNotClose;
        }
    }

    private static async Task<int> RunAsync(DemoOptions options, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        await using var redis = await RedisTarget.OpenAsync(options.Redis, options.Buffer.KeyPrefix, stderr, cancellationToken).ConfigureAwait(false);
        using var loggerFactory = new StderrLoggerFactory(stderr);
        using var buffer = new SpansBuffer(redis.Connection, options.Buffer, loggerFactory);
        await using var sink = new FileSegmentSink(options.OutputPath);
        using var flusher = new SpanFlusher(buffer, sink, loggerFactory);
        var source = MessageSource.For(options);
        await stderr.WriteLineAsync($"Reading {source.Description}; writing segments to {sink.Path}.").ConfigureAwait(false);

        var counters = new RunCounters();
        var ingest = new IngestLoop(options, buffer, flusher, counters, stderr);
        var interrupted = false;
        await flusher.StartAsync(cancellationToken).ConfigureAwait(false);
        await using (new ProgressReporter(counters, buffer, flusher, sink, stderr).ConfigureAwait(false))
        {
            try
            {
                await ingest.RunAsync(source, cancellationToken).ConfigureAwait(false);
                counters.InputEnded();
                await flusher.StopAsync(cancellationToken).ConfigureAwait(false);
                await FlushDrain.RunAsync(buffer, flusher, options.Buffer, ingest.LatestClock ?? flusher.Now, stderr, cancellationToken).ConfigureAwait(false);
                counters.DrainEnded();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                interrupted = true;
                await stderr.WriteLineAsync("Interrupted: stopping the flusher.").ConfigureAwait(false);
            }
            finally
            {
                // Lets a cycle in flight finish (produce, then cleanup), so nothing is produced twice later.
                using var grace = new CancellationTokenSource(interrupted ? StopGraceWhenInterrupted : StopGrace);
                await flusher.StopAsync(grace.Token).ConfigureAwait(false);
            }
        }

        var summary = RunSummary.Create(options, source.Description, redis.Description, counters, sink, flusher, interrupted);
        summary.WriteTo(stdout);
        await stdout.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        return interrupted ? ExitInterrupted : summary.AccountsClose ? ExitAccountsClose : ExitAccountsDoNotClose;
    }
}
