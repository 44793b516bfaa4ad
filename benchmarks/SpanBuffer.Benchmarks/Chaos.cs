using System.Diagnostics;
using System.Globalization;

namespace SpanBuffer.Benchmarks;

/// <summary>
/// Chaos run: ingest (replaying a failed batch until it succeeds, as a Kafka consumer would) and the hosted
/// <see cref="SpanFlusher"/> run against an own redis-server for a while, with faults injected at random (SCRIPT FLUSH,
/// kill -9 and restart of redis-server, failing and hanging sink messages, a second flusher on the same shards). Then
/// ingest stops, the flusher drains, and every ingested span must be delivered or counted as lost:
/// <c>silent = ingested − delivered unique − counted losses</c> must be 0 (exit code 1 otherwise).
/// </summary>
internal static class Chaos
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken cancellationToken)
    {
        var settings = ChaosSettings.Parse(args, output);
        if (settings is null)
        {
            return 2;
        }

        var executable = File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server" : RedisServerOnPath();
        if (executable is null)
        {
            output.WriteLine("redis-server not found (/usr/bin/redis-server or PATH)");
            return 2;
        }

        var scratch = Directory.CreateTempSubdirectory("spanbuffer-chaos-").FullName;
        try
        {
            var input = settings.Input ?? await GenerateWorkloadAsync(settings, scratch, output, cancellationToken);
            if (input is null)
            {
                return 2;
            }

            var workload = ChaosWorkload.Load(input, settings.Shards);
            await using var redis = await ChaosRedis.StartAsync(executable, cancellationToken);
            using var run = new ChaosRun(settings, workload, redis, output);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"chaos: {settings.Minutes:0.##} min, seed {settings.Seed}, faults {FaultList(settings.Faults)} every ~{settings.FaultInterval:0.#} s; workload {input} ({workload.SpansPerPass} spans, {workload.Traces} traces per pass); rate {settings.Rate} spans/s in batches of {settings.BatchSize}; {settings.Shards} shards; Timeout {settings.Options.Timeout.TotalSeconds:0} s, RootTimeout {settings.Options.RootTimeout.TotalSeconds:0} s, FlushLockTtl {settings.Options.FlushLockTtl.TotalSeconds:0} s; redis-server {redis.EndPoint} (appendonly yes, appendfsync always)"));
            return await run.RunAsync(cancellationToken);
        }
        catch (Microsoft.Extensions.Options.OptionsValidationException ex)
        {
            output.WriteLine($"invalid --SpanBuffer option: {ex.Message}");
            return 2;
        }
        finally
        {
            try
            {
                Directory.Delete(scratch, recursive: true);
            }
            catch (IOException)
            {
                // Temporary: best effort.
            }
        }
    }

    public static string FaultList(IEnumerable<ChaosFault> faults)
    {
        var names = faults.Order().Select(ChaosSettings.NameOf).ToList();
        return names.Count == 0 ? "none" : string.Join(',', names);
    }

    private static string? RedisServerOnPath() =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, "redis-server"))
            .FirstOrDefault(File.Exists);

    private static async Task<string?> GenerateWorkloadAsync(ChaosSettings settings, string directory, TextWriter output, CancellationToken cancellationToken)
    {
        var path = Path.Combine(directory, "spans.jsonl");
        var startInfo = new ProcessStartInfo("python3") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { settings.Generator, "--traces", settings.Traces.ToString(CultureInfo.InvariantCulture), "--seed", settings.Seed.ToString(CultureInfo.InvariantCulture), "--out", path })
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException("could not start python3");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            output.WriteLine($"workload generator failed (exit {process.ExitCode}): {await stderr}{await stdout}");
            return null;
        }

        output.WriteLine($"workload: python3 {settings.Generator} --traces {settings.Traces} --seed {settings.Seed}: {(await stdout + await stderr).Trim()}");
        return path;
    }
}
