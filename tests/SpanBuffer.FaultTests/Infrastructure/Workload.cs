using SpanBuffer.Models;

namespace SpanBuffer.FaultTests.Infrastructure;

/// <summary>
/// A span workload made by <c>shared/bench/gen-spans.py</c> (checked in under Workloads/, made by the command
/// below): 226 spans of 40 traces, with nested segments, orphans and children before parents. Each test gets
/// fresh trace ids (the first 8 hex digits, which pick the shard, are kept), so tests on a shared Redis never meet.
/// <code>
/// python3 shared/bench/gen-spans.py --traces 40 --spans-per-segment 5 --pad 0 --large-every 0 --orphans 0.1 \
///     --nested 0.3 --disorder 16 --seed 11 --out Workloads/gen-spans-t40-seed11.jsonl
/// </code>
/// </summary>
internal static class Workload
{
    public const int Shards = 4;

    /// <summary>The clock of the workload (its <c>received</c> timestamps).</summary>
    public const long Now = 1_700_000_000;

    /// <summary>Past every deadline of a batch ingested at <see cref="Now"/> (timeout 60 s).</summary>
    public const long AfterTimeout = Now + 61;

    private static readonly Lazy<string[]> Lines = new(() =>
        File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Workloads", "gen-spans-t40-seed11.jsonl")));

    /// <summary>The shard of a trace, as gen-spans.py documents: int(trace_id[:8], 16) % shards.</summary>
    public static int ShardOf(string traceId) => (int)(Convert.ToUInt32(traceId[..8], 16) % Shards);

    /// <summary>The workload's spans, parsed as a consumer would, with trace ids made unique to this call.</summary>
    public static IReadOnlyList<Span> Load()
    {
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        var spans = new List<Span>();
        foreach (var line in Lines.Value)
        {
            var original = line.Substring(line.IndexOf("\"trace_id\":\"", StringComparison.Ordinal) + 12, 32);
            if (!renamed.TryGetValue(original, out var trace))
            {
                trace = original[..8] + Guid.NewGuid().ToString("N")[..24];
                renamed[original] = trace;
            }

            var json = System.Text.Encoding.UTF8.GetBytes(line.Replace(original, trace, StringComparison.Ordinal));
            spans.Add(Span.Parse(json, ShardOf(trace)));
        }

        return spans;
    }

    /// <summary>Splits spans into batches of <paramref name="size"/>, in arrival order.</summary>
    public static IReadOnlyList<Span[]> Batches(IReadOnlyList<Span> spans, int size) => spans.Chunk(size).ToArray();

    public static IList<int> AllShards => [.. Enumerable.Range(0, Shards)];
}
