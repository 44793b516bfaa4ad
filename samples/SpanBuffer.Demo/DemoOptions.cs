using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SpanBuffer.Demo;

/// <summary>What one demo run does, parsed from the command line.</summary>
public sealed class DemoOptions
{
    public const int DefaultBatchSize = 1000;
    public const int DefaultShards = 4;
    public const int DefaultTraces = 2000;
    public const int DefaultSeed = 1;
    public const string DefaultOutput = "segments.jsonl";

    /// <summary>The JSONL file to read, or null to generate the default workload.</summary>
    public string? InputPath { get; init; }

    /// <summary>Where segment messages go, one per line.</summary>
    public string OutputPath { get; init; } = Path.GetFullPath(DefaultOutput);

    public int BatchSize { get; init; } = DefaultBatchSize;

    public int Shards { get; init; } = DefaultShards;

    /// <summary>A StackExchange.Redis connection string, or null to start a local redis-server.</summary>
    public string? Redis { get; init; }

    /// <summary>A fixed ingest clock (Unix seconds), or null to use each batch's smallest <c>received</c>.</summary>
    public long? Now { get; init; }

    /// <summary>The generated workload (only without <see cref="InputPath"/>).</summary>
    public WorkloadSettings Workload { get; init; } = new();

    /// <summary>The buffer options: defaults, then <c>--SpanBuffer:*</c>, then <c>AssignedShards</c> = 0..Shards-1.</summary>
    public SpanBufferOptions Buffer { get; init; } = new();
}

/// <summary>A command line the demo cannot run: the message says what to change (exit code 2, with the usage text).</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>A valid command line that cannot run here (no redis-server, Redis unreachable, prefix in use): exit code 2.</summary>
public sealed class SetupException(string message) : Exception(message);

/// <summary>
/// Parses the demo's command line with Microsoft.Extensions.Configuration: the fixed flags plus any
/// <c>--SpanBuffer:Name=value</c> bound to <see cref="SpanBufferOptions"/>. Stricter than the configuration
/// provider alone: an unknown flag, a stray argument or a flag without a value is an error, not ignored.
/// </summary>
public static class DemoOptionsParser
{
    public const string Usage = """
        Usage: dotnet run --project samples/SpanBuffer.Demo -- [options]

        Runs the span buffer end to end: spans in, segments out to a file, accounts checked.

          --input FILE        JSONL, one ingest message per line (e.g. from gen-spans.py).
                              Default: a generated workload (see --traces, --seed).
          --output FILE       Segment messages, one JSON per line. Default: segments.jsonl
          --batch-size N      Spans per ingest call. Default: 1000
          --shards N          Partitions; a span's is int(trace_id[:8], 16) % N. Default: 4
          --redis ENDPOINT    A StackExchange.Redis connection string (a cluster seed works too).
                              Default: start a local redis-server on a free loopback port.
          --now SECONDS       Pin the ingest clock (Unix seconds) for every batch.
                              Default: each batch's smallest "received" timestamp.
          --traces N          Traces in the generated workload. Default: 2000
          --seed N            Seed of the generated workload. Default: 1
          --SpanBuffer:NAME=VALUE
                              Any SpanBufferOptions property, e.g. --SpanBuffer:MaxSegmentBytes=20000,
                              --SpanBuffer:KeyPrefix=demo, --SpanBuffer:Timeout=00:00:30 (time spans
                              are hh:mm:ss; a bare number means days).
          --help              Show this text.

        Exit codes: 0 accounts close, 1 they do not (or the run failed), 2 usage or setup error,
        130 interrupted.
        """;

    private static readonly string[] FixedFlags = ["input", "output", "batch-size", "shards", "redis", "now", "traces", "seed"];

    /// <summary>Whether the arguments ask for the usage text.</summary>
    public static bool IsHelp(IEnumerable<string> args) =>
        args.Any(a => a is "--help" or "-h" or "-?" or "/?");

    /// <summary>Parses <paramref name="args"/>; relative paths resolve against <paramref name="workingDirectory"/>.</summary>
    /// <exception cref="UsageException">The command line is not valid.</exception>
    public static DemoOptions Parse(IReadOnlyList<string> args, string workingDirectory)
    {
        CheckShape(args);
        var configuration = new ConfigurationBuilder().AddCommandLine([.. args]).Build();
        foreach (var child in configuration.GetChildren())
        {
            if (!FixedFlags.Contains(child.Key, StringComparer.OrdinalIgnoreCase)
                && !string.Equals(child.Key, SpanBufferOptions.SectionName, StringComparison.OrdinalIgnoreCase))
            {
                throw new UsageException($"Unknown option '--{child.Key}'.");
            }
        }

        var input = configuration["input"];
        var explicitWorkload = configuration["traces"] is not null || configuration["seed"] is not null;
        if (input is not null && explicitWorkload)
        {
            throw new UsageException("--traces and --seed describe the generated workload; they cannot be combined with --input.");
        }

        string? inputPath = null;
        if (input is not null)
        {
            inputPath = Path.GetFullPath(input, workingDirectory);
            if (!File.Exists(inputPath))
            {
                throw new UsageException($"Input file '{inputPath}' does not exist.");
            }
        }

        var outputPath = Path.GetFullPath(configuration["output"] ?? DemoOptions.DefaultOutput, workingDirectory);
        if (Path.GetDirectoryName(outputPath) is { } outputDirectory && !Directory.Exists(outputDirectory))
        {
            throw new UsageException($"The directory of the output file '{outputPath}' does not exist.");
        }

        var shards = ReadInt(configuration, "shards", DemoOptions.DefaultShards, 1, 1024);
        var redis = configuration["redis"];
        if (redis is not null && string.IsNullOrWhiteSpace(redis))
        {
            throw new UsageException("--redis needs a connection string, e.g. --redis 127.0.0.1:6379.");
        }

        return new DemoOptions
        {
            InputPath = inputPath,
            OutputPath = outputPath,
            BatchSize = ReadInt(configuration, "batch-size", DemoOptions.DefaultBatchSize, 1, 1_000_000),
            Shards = shards,
            Redis = redis,
            Now = configuration["now"] is null ? null : ReadLong(configuration, "now", 1, long.MaxValue / 2),
            Workload = new WorkloadSettings
            {
                Traces = ReadInt(configuration, "traces", DemoOptions.DefaultTraces, 1, 10_000_000),
                Seed = ReadInt(configuration, "seed", DemoOptions.DefaultSeed, int.MinValue, int.MaxValue),
            },
            Buffer = BindBufferOptions(configuration.GetSection(SpanBufferOptions.SectionName), shards),
        };
    }

    /// <summary>Accepts <c>--key=value</c> and <c>--key value</c> only, which the configuration provider would otherwise half-ignore.</summary>
    private static void CheckShape(IReadOnlyList<string> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var token = args[i];
            if (!token.StartsWith("--", StringComparison.Ordinal) || token.Length == 2 || token[2] == '=')
            {
                throw new UsageException($"Unexpected argument '{token}'; options look like --name value or --name=value.");
            }

            var name = token[2..].Split('=', 2)[0].Split(':', 2)[0];
            if (!FixedFlags.Contains(name, StringComparer.OrdinalIgnoreCase) && !string.Equals(name, SpanBufferOptions.SectionName, StringComparison.OrdinalIgnoreCase))
            {
                throw new UsageException($"Unknown option '--{name}'.");
            }

            if (token.Contains('=', StringComparison.Ordinal))
            {
                continue;
            }

            if (i + 1 >= args.Count)
            {
                throw new UsageException($"Option '{token}' needs a value.");
            }

            i++;
        }
    }

    /// <summary>
    /// Binds and validates the buffer options through the library's own registration (<c>AddSpanBuffer</c>), so
    /// an invalid value is a usage error before any Redis is started or connected.
    /// </summary>
    private static SpanBufferOptions BindBufferOptions(IConfigurationSection section, int shards)
    {
        foreach (var reserved in new[] { nameof(SpanBufferOptions.AssignedShards), nameof(SpanBufferOptions.ConnectionString) })
        {
            if (section.GetSection(reserved).Exists())
            {
                var instead = reserved == nameof(SpanBufferOptions.AssignedShards) ? "--shards N (shards 0..N-1)" : "--redis";
                throw new UsageException($"--SpanBuffer:{reserved} is set by the demo itself; use {instead}.");
            }
        }

        var services = new ServiceCollection().AddSpanBuffer(options =>
        {
            section.Bind(options, binder => binder.ErrorOnUnknownConfiguration = true);
            options.AssignedShards = [.. Enumerable.Range(0, shards)];
        });
        using var provider = services.BuildServiceProvider();
        try
        {
            return provider.GetRequiredService<IOptions<SpanBufferOptions>>().Value;
        }
        catch (OptionsValidationException ex)
        {
            throw new UsageException($"Invalid --SpanBuffer option: {string.Join(" ", ex.Failures)}{TimeSpanHint(section)}");
        }
        catch (InvalidOperationException ex)
        {
            throw new UsageException($"Invalid --SpanBuffer option: {ex.Message}");
        }
    }

    /// <summary>A bare number binds to a TimeSpan as days, which is rarely what was meant.</summary>
    private static string TimeSpanHint(IConfigurationSection section)
    {
        var bare = typeof(SpanBufferOptions).GetProperties()
            .Where(p => p.PropertyType == typeof(TimeSpan) && long.TryParse(section[p.Name], CultureInfo.InvariantCulture, out _))
            .Select(p => $"--SpanBuffer:{p.Name}={section[p.Name]} means {section[p.Name]} days")
            .ToList();
        return bare.Count == 0 ? string.Empty : $" Note: time spans are hh:mm:ss ({string.Join("; ", bare)}).";
    }

    private static int ReadInt(IConfiguration configuration, string key, int fallback, int min, int max) =>
        (int)ReadLong(configuration, key, min, max, fallback);

    private static long ReadLong(IConfiguration configuration, string key, long min, long max, long? fallback = null)
    {
        var text = configuration[key];
        if (text is null)
        {
            return fallback ?? throw new UsageException($"--{key} is required.");
        }

        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new UsageException($"--{key} must be an integer from {min} to {max}, not '{text}'.");
        }

        return value;
    }
}
