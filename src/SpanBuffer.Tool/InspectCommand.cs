using System.Globalization;
using System.Text.Json.Serialization;
using SpanBuffer.Redis;

namespace SpanBuffer.Tool;

internal sealed record SegmentSize(string SegmentKey, long? Spans, long? Bytes);

internal sealed record ShardReport(
    int Shard,
    string QueueKey,
    long Segments,
    long Due,
    long? LowestDeadline,
    long? OldestDueLagSeconds,
    IReadOnlyList<SegmentSize> LargestByBytes,
    IReadOnlyList<SegmentSize> LargestBySpans,
    bool MembersComplete)
{
    /// <summary>Gets the queue members read (for watch's in/out counts).</summary>
    [JsonIgnore]
    public IReadOnlySet<string> Members { get; init; } = new HashSet<string>();
}

internal sealed record PrimaryReport(string EndPoint, long UsedMemory, long MaxMemory, double? Ratio, bool IngestScriptLoaded);

internal sealed record KeyFamilyReport(IReadOnlyDictionary<string, long> Counts, long SampledKeys, bool Complete)
{
    /// <summary>Gets a value indicating whether the counts come from a partial scan (a lower bound).</summary>
    public bool Estimate => !Complete;
}

internal sealed record InspectReport(
    long Now,
    string Prefix,
    int? SliceId,
    string Topology,
    IReadOnlyList<ShardReport> Shards,
    IReadOnlyList<PrimaryReport> Primaries,
    KeyFamilyReport KeyFamilies);

/// <summary><c>spanbuffer inspect</c>: a read-only snapshot of the buffer's queues, memory and keys.</summary>
internal static class InspectCommand
{
    public static async Task<int> RunAsync(ToolContext context)
    {
        var report = await ReadAsync(context).ConfigureAwait(false);
        if (context.Options.Json)
        {
            await context.WriteJsonAsync(report).ConfigureAwait(false);
        }
        else
        {
            await context.Stdout.WriteAsync(Render(report)).ConfigureAwait(false);
        }

        return await WarnWhenEmptyAsync(context, report).ConfigureAwait(false);
    }

    /// <summary>Exit code 1 and a hint when nothing at all is under the prefix: most likely a wrong --prefix or database.</summary>
    public static async Task<int> WarnWhenEmptyAsync(ToolContext context, InspectReport report)
    {
        if (report.KeyFamilies.SampledKeys == 0 && report.Shards.All(s => s.Segments == 0))
        {
            await context.Stderr.WriteLineAsync(
                $"warning: no keys under the prefix '{context.Options.Prefix}:' on {report.Primaries.Count} primary(ies) " +
                "(wrong --prefix or --slice-id, or a drained buffer).").ConfigureAwait(false);
            return ToolApp.ExitFindings;
        }

        return ToolApp.ExitHealthy;
    }

    public static async Task<InspectReport> ReadAsync(ToolContext context)
    {
        var now = context.Now;
        var shards = await context.ResolveShardsAsync().ConfigureAwait(false);
        var states = await context.Store.GetQueueStatesAsync(shards, now).WaitAsync(context.CancellationToken).ConfigureAwait(false);
        var shardReports = new List<ShardReport>(states.Count);
        foreach (var state in states)
        {
            var (entries, complete) = await context.ReadQueueAsync(state.Shard.QueueKey).ConfigureAwait(false);
            var members = entries.Select(e => e.Element.ToString()).ToList();
            var segments = members.Where(m => KeySchema.TryReadSegmentKey(m, out _)).ToList();
            var sizes = await context.InBatchesAsync<string, SegmentState>(segments, batch => context.Store.GetSegmentStatesAsync(batch)).ConfigureAwait(false);
            var top = context.Options.Top;
            shardReports.Add(new ShardReport(
                state.Shard.Shard,
                state.Shard.QueueKey,
                state.Segments,
                state.Due,
                state.LowestDeadline,
                state.LowestDeadline is { } lowest && lowest <= now ? now - lowest : null,
                sizes.OrderByDescending(s => s.Bytes ?? -1).ThenBy(s => s.SegmentKey, StringComparer.Ordinal).Take(top).Select(Size).ToList(),
                sizes.OrderByDescending(s => s.Spans ?? -1).ThenBy(s => s.SegmentKey, StringComparer.Ordinal).Take(top).Select(Size).ToList(),
                complete)
            {
                Members = members.ToHashSet(StringComparer.Ordinal),
            });
        }

        var primaries = new List<PrimaryReport>();
        foreach (var server in context.Connection.Primaries)
        {
            var info = (await server.InfoAsync("memory").WaitAsync(context.CancellationToken).ConfigureAwait(false))
                .SelectMany(g => g)
                .GroupBy(kv => kv.Key, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.First().Value, StringComparer.Ordinal);
            var used = Read(info, "used_memory");
            var max = Read(info, "maxmemory");

            // As the library's hard backpressure compares: maxmemory, else the host's memory.
            var available = max > 0 ? max : Read(info, "total_system_memory");
            var loaded = await RedisSpanStore.IsIngestScriptLoadedAsync(server).WaitAsync(context.CancellationToken).ConfigureAwait(false);
            primaries.Add(new PrimaryReport(server.EndPoint.ToString() ?? "?", used, max, available > 0 ? (double)used / available : null, loaded));
        }

        var sample = await context.ScanAsync(context.Families.AllKeysPattern, "keys").ConfigureAwait(false);
        var counts = Enum.GetValues<KeyFamily>().ToDictionary(f => FamilyName(f), _ => 0L, StringComparer.Ordinal);
        foreach (var key in sample.Keys)
        {
            counts[FamilyName(context.Families.Classify(key).Family)]++;
        }

        return new InspectReport(
            now,
            context.Options.Prefix,
            context.Options.SliceId,
            context.Connection.IsCluster ? "cluster" : "standalone",
            shardReports,
            primaries,
            new KeyFamilyReport(counts, sample.Keys.Count, sample.Complete));
    }

    public static string FamilyName(KeyFamily family) => family switch
    {
        KeyFamily.Queue => "queue",
        KeyFamily.Payload => "payload",
        KeyFamily.MemberKeys => "member_keys",
        KeyFamily.Redirect => "redirect",
        KeyFamily.StoredSalts => "stored_salts",
        KeyFamily.HasRoot => "has_root",
        KeyFamily.IngestedCount => "ingested_count",
        KeyFamily.IngestedBytes => "ingested_bytes",
        KeyFamily.FlushLock => "flush_lock",
        _ => "unknown",
    };

    public static string Render(InspectReport report)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"SpanBuffer '{report.Prefix}' on {report.Topology} Redis, now {report.Now}{(report.SliceId is { } slice ? $", slice {slice}" : string.Empty)}");
        text.AppendLine();
        text.Append(ToolContext.Table(
            ["shard", "queue", "segments", "due", "oldest due lag (s)", "lowest deadline"],
            report.Shards.Select(s => (IReadOnlyList<string>)[
                s.Shard.ToString(CultureInfo.InvariantCulture), s.QueueKey, ToolContext.Number(s.Segments), ToolContext.Number(s.Due),
                ToolContext.Number(s.OldestDueLagSeconds), ToolContext.Number(s.LowestDeadline)])));
        foreach (var shard in report.Shards.Where(s => s.LargestByBytes.Count > 0))
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"Largest segments of shard {shard.Shard}{(shard.MembersComplete ? string.Empty : " (among the first --max-keys queued)")}:");
            text.Append(ToolContext.Table(
                ["by bytes", "bytes", "spans"],
                shard.LargestByBytes.Select(s => (IReadOnlyList<string>)[s.SegmentKey, ToolContext.Number(s.Bytes), ToolContext.Number(s.Spans)])));
            text.Append(ToolContext.Table(
                ["by spans", "spans", "bytes"],
                shard.LargestBySpans.Select(s => (IReadOnlyList<string>)[s.SegmentKey, ToolContext.Number(s.Spans), ToolContext.Number(s.Bytes)])));
        }

        text.AppendLine();
        text.Append(ToolContext.Table(
            ["primary", "used memory", "maxmemory", "ratio", "ingest script loaded"],
            report.Primaries.Select(p => (IReadOnlyList<string>)[
                p.EndPoint, ToolContext.Number(p.UsedMemory), p.MaxMemory > 0 ? ToolContext.Number(p.MaxMemory) : "0 (none)",
                p.Ratio is { } r ? ToolContext.Number(r) : "-", p.IngestScriptLoaded ? "yes" : "no"])));
        text.AppendLine();
        var families = report.KeyFamilies;
        text.AppendLine(CultureInfo.InvariantCulture, $"Keys per family ({(families.Complete ? "complete scan" : "ESTIMATE: scan stopped at --max-keys, lower bounds")}, {families.SampledKeys} keys):");
        text.Append(ToolContext.Table(
            ["family", "keys"],
            families.Counts.Where(kv => kv.Value > 0 || kv.Key != "unknown").Select(kv => (IReadOnlyList<string>)[kv.Key, ToolContext.Number(kv.Value)])));
        return text.ToString();
    }

    private static SegmentSize Size(SegmentState state) => new(state.SegmentKey, state.Spans, state.Bytes);

    private static long Read(Dictionary<string, string> values, string name) =>
        values.TryGetValue(name, out var text) && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : 0;
}
