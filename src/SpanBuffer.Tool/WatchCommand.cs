using System.Globalization;

namespace SpanBuffer.Tool;

/// <summary>The change of one shard's queue since the previous refresh.</summary>
/// <param name="Shard">The shard.</param>
/// <param name="Segments">Queued segments now.</param>
/// <param name="In">Segments queued now that were not at the previous refresh.</param>
/// <param name="Out">Segments queued at the previous refresh that are not now.</param>
/// <param name="InPerSecond">In per second of elapsed time.</param>
/// <param name="OutPerSecond">Out per second of elapsed time.</param>
/// <param name="Exact">Whether both refreshes read every queue member (else in/out are from the first --max-keys).</param>
internal sealed record ShardRate(int Shard, long Segments, long In, long Out, double InPerSecond, double OutPerSecond, bool Exact);

internal sealed record WatchRefresh(int Iteration, double ElapsedSeconds, IReadOnlyList<ShardRate> Rates, InspectReport Inspect);

/// <summary><c>spanbuffer watch</c>: inspect every --interval, with segments in and out per shard since the last refresh.</summary>
internal static class WatchCommand
{
    public static async Task<int> RunAsync(ToolContext context)
    {
        var options = context.Options;
        InspectReport? previous = null;
        var previousAt = context.Time.GetTimestamp();
        var start = context.Time.GetUtcNow();
        var exit = ToolApp.ExitHealthy;
        for (var iteration = 1; options.Iterations is not { } max || iteration <= max; iteration++)
        {
            var report = await InspectCommand.ReadAsync(context).ConfigureAwait(false);
            var at = context.Time.GetTimestamp();
            var elapsed = previous is null ? 0 : context.Time.GetElapsedTime(previousAt, at).TotalSeconds;
            var rates = previous is null ? [] : Rates(previous, report, elapsed);
            var refresh = new WatchRefresh(iteration, elapsed, rates, report);
            if (options.Json)
            {
                await context.WriteJsonAsync(refresh).ConfigureAwait(false);
            }
            else
            {
                await context.Stdout.WriteAsync(Render(refresh)).ConfigureAwait(false);
            }

            await context.Stdout.FlushAsync(context.CancellationToken).ConfigureAwait(false);
            exit = await InspectCommand.WarnWhenEmptyAsync(context, report).ConfigureAwait(false);
            previous = report;
            previousAt = at;
            if (context.Hooks.AfterRefresh is { } hook)
            {
                await hook(iteration, context.CancellationToken).ConfigureAwait(false);
            }

            if (options.Iterations is { } last && iteration >= last)
            {
                break;
            }

            // Ticks on a fixed schedule from the start, so a slow refresh does not push every later one back.
            var wait = start + (options.Interval * iteration) - context.Time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, context.Time, context.CancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
                {
                    // Ctrl+C between refreshes is how a watch without --iterations ends.
                    break;
                }
            }
        }

        return exit;
    }

    private static List<ShardRate> Rates(InspectReport previous, InspectReport current, double elapsedSeconds)
    {
        var before = previous.Shards.ToDictionary(s => s.QueueKey, StringComparer.Ordinal);
        var rates = new List<ShardRate>();
        foreach (var shard in current.Shards)
        {
            var old = before.GetValueOrDefault(shard.QueueKey);
            var oldMembers = old?.Members ?? new HashSet<string>();
            var added = shard.Members.Count(m => !oldMembers.Contains(m));
            var removed = oldMembers.Count(m => !shard.Members.Contains(m));
            rates.Add(new ShardRate(
                shard.Shard,
                shard.Segments,
                added,
                removed,
                elapsedSeconds > 0 ? added / elapsedSeconds : 0,
                elapsedSeconds > 0 ? removed / elapsedSeconds : 0,
                shard.MembersComplete && (old?.MembersComplete ?? true)));
        }

        return rates;
    }

    private static string Render(WatchRefresh refresh)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"=== refresh {refresh.Iteration} ===");
        text.Append(InspectCommand.Render(refresh.Inspect));
        if (refresh.Rates.Count > 0)
        {
            text.AppendLine();
            text.AppendLine(CultureInfo.InvariantCulture, $"Since the last refresh ({ToolContext.Number(refresh.ElapsedSeconds)} s):");
            text.Append(ToolContext.Table(
                ["shard", "segments", "in", "out", "in/s", "out/s"],
                refresh.Rates.Select(r => (IReadOnlyList<string>)[
                    r.Shard.ToString(CultureInfo.InvariantCulture), ToolContext.Number(r.Segments), ToolContext.Number(r.In) + (r.Exact ? string.Empty : "~"),
                    ToolContext.Number(r.Out) + (r.Exact ? string.Empty : "~"), ToolContext.Number(r.InPerSecond), ToolContext.Number(r.OutPerSecond)])));
        }

        text.AppendLine();
        return text.ToString();
    }
}
