using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace SpanBuffer.Benchmarks;

/// <summary>The fault kinds the chaos run injects.</summary>
internal enum ChaosFault
{
    /// <summary>SCRIPT FLUSH from a second connection: every cached Lua script is gone (NOSCRIPT on next use).</summary>
    ScriptFlush,

    /// <summary>kill -9 of redis-server, restarted on the same port and directory (the AOF keeps the data).</summary>
    Restart,

    /// <summary>The next message handed to the sink fails.</summary>
    SinkFail,

    /// <summary>The next message handed to the sink waits until its token is cancelled or the hang timeout, then fails.</summary>
    SinkHang,

    /// <summary>A second flusher on the same shards (own connection and buffer) runs for a while.</summary>
    SecondFlusher,
}

/// <summary>Command line of the chaos run; buffer options come as <c>--SpanBuffer:Name=value</c> (Timeout 4 s and RootTimeout 2 s unless given; RootTimeout may not exceed Timeout).</summary>
internal sealed record ChaosSettings(
    double Minutes,
    int Seed,
    IReadOnlySet<ChaosFault> Faults,
    double FaultInterval,
    string? Input,
    int Traces,
    string Generator,
    int Rate,
    int BatchSize,
    int Shards,
    double HangSeconds,
    double SecondFlusherSeconds,
    double DrainSeconds,
    int MaxSpans,
    SpanBufferOptions Options)
{
    public const string Usage = """
        usage: SpanBuffer.Benchmarks chaos [--minutes 1] [--seed 1] [--faults all|none|KIND,KIND...] [--fault-interval 6]
                                           [--input FILE | --traces 2000 [--generator /work/shared/bench/gen-spans.py]]
                                           [--rate 3000] [--batch-size 250] [--shards 4] [--hang-seconds 8]
                                           [--second-flusher-seconds 15] [--drain-seconds 90] [--max-spans 20000000]
                                           [--SpanBuffer:Option=value ...]
          Starts its own redis-server (AOF, appendfsync always) on a free loopback port, ingests the workload in a loop
          (fresh trace ids per pass) at --rate spans/s with the wall clock as now, runs the SpanFlusher against a
          checking sink, and injects a fault every --fault-interval seconds on average (kinds picked with --seed):
            script-flush, restart, sink-fail, sink-hang, second-flusher
          Then stops ingest, lets the flusher drain, and prints the tally. Exit code 1 when spans went missing silently.
          Without --input the workload is generated: python3 GENERATOR --traces N --seed SEED.
        """;

    private static readonly Dictionary<string, ChaosFault> s_faultNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["script-flush"] = ChaosFault.ScriptFlush,
        ["restart"] = ChaosFault.Restart,
        ["sink-fail"] = ChaosFault.SinkFail,
        ["sink-hang"] = ChaosFault.SinkHang,
        ["second-flusher"] = ChaosFault.SecondFlusher,
    };

    public static string NameOf(ChaosFault fault) => s_faultNames.First(kv => kv.Value == fault).Key;

    public static ChaosSettings? Parse(string[] args, TextWriter output)
    {
        var switches = new Dictionary<string, string>
        {
            ["--minutes"] = "minutes",
            ["--seed"] = "seed",
            ["--faults"] = "faults",
            ["--fault-interval"] = "fault-interval",
            ["--input"] = "input",
            ["--traces"] = "traces",
            ["--generator"] = "generator",
            ["--rate"] = "rate",
            ["--batch-size"] = "batch-size",
            ["--shards"] = "shards",
            ["--hang-seconds"] = "hang-seconds",
            ["--second-flusher-seconds"] = "second-flusher-seconds",
            ["--drain-seconds"] = "drain-seconds",
            ["--max-spans"] = "max-spans",
        };
        try
        {
            var configuration = new ConfigurationBuilder().AddCommandLine(args, switches).Build();
            var input = configuration["input"];
            if (input is not null && !File.Exists(input))
            {
                output.WriteLine($"no such file: {input}");
                return null;
            }

            var faults = ParseFaults(configuration["faults"] ?? "all");
            if (faults is null)
            {
                output.WriteLine($"unknown fault kind in '{configuration["faults"]}'; known: {string.Join(", ", s_faultNames.Keys)}, all, none");
                output.WriteLine(Usage);
                return null;
            }

            // Short deadlines so segments flush during the run; the command line may still override them.
            var options = new SpanBufferOptions { Timeout = TimeSpan.FromSeconds(4), RootTimeout = TimeSpan.FromSeconds(2) };
            configuration.GetSection(SpanBufferOptions.SectionName).Bind(options);
            var settings = new ChaosSettings(
                Double(configuration, "minutes", 1),
                Int(configuration, "seed", 1),
                faults,
                Double(configuration, "fault-interval", 6),
                input,
                Int(configuration, "traces", 2000),
                configuration["generator"] ?? "/work/shared/bench/gen-spans.py",
                Int(configuration, "rate", 3000),
                Int(configuration, "batch-size", 250),
                Int(configuration, "shards", 4),
                Double(configuration, "hang-seconds", 8),
                Double(configuration, "second-flusher-seconds", 15),
                Double(configuration, "drain-seconds", 90),
                Int(configuration, "max-spans", 20_000_000),
                options);
            if (settings.Minutes <= 0 || settings.Rate <= 0 || settings.BatchSize <= 0 || settings.Shards <= 0 || settings.FaultInterval <= 0 || settings.MaxSpans <= 0)
            {
                output.WriteLine("--minutes, --rate, --batch-size, --shards, --fault-interval and --max-spans must be positive");
                return null;
            }

            return settings;
        }
        catch (Exception ex) when (ex is FormatException or InvalidOperationException or OverflowException)
        {
            output.WriteLine(ex.Message);
            output.WriteLine(Usage);
            return null;
        }
    }

    private static HashSet<ChaosFault>? ParseFaults(string text)
    {
        if (text.Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            return [.. s_faultNames.Values];
        }

        var faults = new HashSet<ChaosFault>();
        if (text.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            return faults;
        }

        foreach (var name in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!s_faultNames.TryGetValue(name, out var fault))
            {
                return null;
            }

            faults.Add(fault);
        }

        return faults;
    }

    private static int Int(IConfiguration configuration, string key, int fallback) =>
        configuration[key] is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

    private static double Double(IConfiguration configuration, string key, double fallback) =>
        configuration[key] is { } text ? double.Parse(text, CultureInfo.InvariantCulture) : fallback;
}
