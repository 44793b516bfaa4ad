using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace SpanBuffer.Benchmarks;

/// <summary>Command line of the end-to-end run; options of the buffer come as <c>--SpanBuffer:Name=value</c>.</summary>
internal sealed record EndToEndSettings(string Input, string? Redis, int BatchSize, int Shards, long Now, int Concurrency, int WarmUpSpans, SpanBufferOptions Options)
{
    public static EndToEndSettings? Parse(string[] args, TextWriter output, string usage)
    {
        var switches = new Dictionary<string, string>
        {
            ["--input"] = "input",
            ["--redis"] = "redis",
            ["--batch-size"] = "batch-size",
            ["--shards"] = "shards",
            ["--now"] = "now",
            ["--concurrency"] = "concurrency",
            ["--warm-up"] = "warm-up",
        };
        IConfiguration configuration;
        try
        {
            configuration = new ConfigurationBuilder().AddCommandLine(args, switches).Build();
        }
        catch (FormatException ex)
        {
            output.WriteLine(ex.Message);
            output.WriteLine(usage);
            return null;
        }

        var input = configuration["input"];
        if (input is null || !File.Exists(input))
        {
            output.WriteLine(input is null ? "--input is required" : $"no such file: {input}");
            output.WriteLine(usage);
            return null;
        }

        var options = new SpanBufferOptions();
        configuration.GetSection(SpanBufferOptions.SectionName).Bind(options);
        return new EndToEndSettings(
            input,
            configuration["redis"],
            Int(configuration, "batch-size", 1000),
            Int(configuration, "shards", 4),
            long.Parse(configuration["now"] ?? "1700000000", CultureInfo.InvariantCulture),
            Int(configuration, "concurrency", 1),
            Int(configuration, "warm-up", 20_000),
            options);
    }

    private static int Int(IConfiguration configuration, string key, int fallback) =>
        configuration[key] is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;
}
