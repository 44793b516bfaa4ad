using System.Text.Json;
using SpanBuffer.Demo;

namespace SpanBuffer.IntegrationTests.Demo;

/// <summary>One in-process run of the demo: its exit code, what it printed, and its output file read back.</summary>
internal sealed record DemoRun(int ExitCode, string Stdout, string Stderr, string OutputPath)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);

    public static async Task<DemoRun> StartAsync(string outputPath, params string[] args)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(RunTimeout);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exitCode = await DemoApp.RunAsync([.. args, "--output", outputPath], stdout, stderr, timeout.Token);
        return new DemoRun(exitCode, stdout.ToString(), stderr.ToString(), outputPath);
    }

    /// <summary>Gets the stdout and stderr, for assertion messages.</summary>
    public string Printed => $"exit code {ExitCode}{Environment.NewLine}stdout:{Environment.NewLine}{Stdout}{Environment.NewLine}stderr:{Environment.NewLine}{Stderr}";

    /// <summary>Parses every output line; each must be a JSON object with a 32-hex <c>flush_id</c> and a <c>spans</c> array.</summary>
    public IReadOnlyList<OutputMessage> ReadMessages()
    {
        var messages = new List<OutputMessage>();
        foreach (var line in File.ReadLines(OutputPath))
        {
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            var flushId = root.GetProperty("flush_id").GetString();
            Assert.Matches("^[0-9a-f]{32}$", flushId);
            var spans = root.GetProperty("spans");
            Assert.Equal(JsonValueKind.Array, spans.ValueKind);
            messages.Add(new OutputMessage(
                flushId!,
                root.TryGetProperty("skip_enrichment", out var skip) && skip.GetBoolean(),
                [.. spans.EnumerateArray().Select(span => new OutputSpanIds(
                    span.GetProperty("span_id").GetString()!,
                    span.GetProperty("attributes").GetProperty("sentry.segment.id").GetProperty("value").GetString()!,
                    span.GetProperty("is_segment").GetBoolean()))]));
        }

        return messages;
    }

    /// <summary>The span ids of valid ingest messages (those with a span_id), in order.</summary>
    public static IReadOnlyList<string> SpanIdsOf(IEnumerable<byte[]> messages) =>
        [.. messages.Select(message =>
        {
            using var json = JsonDocument.Parse(message);
            return json.RootElement.GetProperty("span_id").GetString()!;
        })];
}

internal sealed record OutputMessage(string FlushId, bool SkipEnrichment, IReadOnlyList<OutputSpanIds> Spans);

internal sealed record OutputSpanIds(string SpanId, string SegmentId, bool IsSegment);
