using System.Buffers;
using System.Globalization;
using SpanBuffer.Models;
using SpanBuffer.Redis;

namespace SpanBuffer.Tool;

internal sealed record DrainReport(
    long FlushClock,
    IReadOnlyList<int> Shards,
    long Rounds,
    long Segments,
    long Spans,
    long Messages,
    long LostSpans,
    long BrokenLocks,
    long RemainingDue,
    string Output);

/// <summary>
/// <c>spanbuffer drain</c>: flushes the given shards now, whatever their deadlines, through the library's own flush
/// pipeline (<see cref="SpansBuffer.FlushSegmentsAsync"/> with the clock at the highest queued deadline, flush locks
/// on), writes each segment's messages as JSON lines exactly as a flusher hands them to its sink, and cleans up with
/// <see cref="SpansBuffer.DoneFlushSegmentsAsync(IReadOnlyList{FlushedSegment}, CancellationToken)"/> once they are written.
/// </summary>
internal static class DrainCommand
{
    private const long MaxRounds = 1_000_000;

    public static async Task<int> RunAsync(ToolContext context)
    {
        var options = context.Options;
        var shards = await context.ResolveShardsAsync().ConfigureAwait(false);
        var states = await context.Store.GetQueueStatesAsync(shards, context.Now).WaitAsync(context.CancellationToken).ConfigureAwait(false);

        // Refuse while another flusher is at work: its locks (or cleanup fences) cover segments of these shards.
        var held = new List<(string SegmentKey, string? Holder)>();
        foreach (var shard in shards)
        {
            var (entries, _) = await context.ReadQueueAsync(shard.QueueKey).ConfigureAwait(false);
            var segments = entries.Select(e => e.Element.ToString()).Where(m => KeySchema.TryReadSegmentKey(m, out _)).ToList();
            var locks = await context.InBatchesAsync<string, (string, string?)>(segments, batch => context.Store.GetFlushLocksAsync(batch)).ConfigureAwait(false);
            held.AddRange(locks.Where(l => l.Item2 is not null));
        }

        long broken = 0;
        if (held.Count > 0)
        {
            if (!options.Force)
            {
                await context.Stderr.WriteLineAsync(
                    $"refusing to drain: another flusher holds flush locks on {held.Count} queued segment(s) of these shards " +
                    $"(e.g. {context.Keys.FlushLockKey(held[0].SegmentKey)}). Stop that flusher, or wait for its locks to expire, " +
                    "or pass --force to take the segments over (they may then be delivered twice).").ConfigureAwait(false);
                return ToolApp.ExitFindings;
            }

            broken = await context.Store.BreakFlushLocksAsync(held.Select(h => h.SegmentKey).ToList()).WaitAsync(context.CancellationToken).ConfigureAwait(false);
            await context.Stderr.WriteLineAsync($"--force: removed {broken} flush lock(s) held by another flusher.").ConfigureAwait(false);
        }

        // "Now" at the highest deadline queued: everything queued is due, and the loss accounting sees no false expiry.
        var clock = Math.Max(context.Now, states.Max(s => s.HighestDeadline ?? 0));
        var bufferOptions = new SpanBufferOptions
        {
            KeyPrefix = options.Prefix,
            AssignedShards = [.. shards.Select(s => s.Shard)],
            SliceId = options.SliceId,
            FlushLockTtl = TimeSpan.FromSeconds(options.LockTtlSeconds),
            MaxSegmentBytes = options.MaxSegmentBytes,
            MaxFlushSegments = options.MaxFlushSegments,
        };
        using var buffer = new SpansBuffer(context.Connection.Redis, bufferOptions, timeProvider: context.Time);
        var toFile = options.Output is not null && options.Output != "-";
        long rounds = 0, segmentCount = 0, spans = 0, messages = 0, lost = 0;
        Stream output = toFile ? new FileStream(options.Output!, FileMode.Create, FileAccess.Write, FileShare.Read) : Stream.Null;
        await using (output.ConfigureAwait(false))
        {
            var line = new ArrayBufferWriter<byte>();
            while (rounds < MaxRounds)
            {
                context.CancellationToken.ThrowIfCancellationRequested();
                var flush = await buffer.FlushSegmentsAsync(clock, context.CancellationToken).ConfigureAwait(false);
                if (flush.Segments.Count == 0)
                {
                    break;
                }

                rounds++;
                foreach (var segment in flush.Segments)
                {
                    foreach (var message in segment.ToMessages(options.MaxSegmentBytes))
                    {
                        line.ResetWrittenCount();
                        message.WriteTo(line);
                        line.Write("\n"u8);
                        if (toFile)
                        {
                            await output.WriteAsync(line.WrittenMemory, context.CancellationToken).ConfigureAwait(false);
                        }
                        else
                        {
                            await context.Stdout.WriteAsync(System.Text.Encoding.UTF8.GetString(line.WrittenSpan)).ConfigureAwait(false);
                        }

                        messages++;
                    }

                    spans += segment.Spans.Count;
                }

                // Written (and on disk) before anything is removed from Redis: at-least-once, as a flusher.
                if (toFile)
                {
                    // Flushed to the disk, not only to the OS: cleanup deletes the only other copy. There is no async
                    // fsync; one per round, in a command-line tool, blocks nothing that matters.
                    await output.FlushAsync(context.CancellationToken).ConfigureAwait(false);
#pragma warning disable CA1849
                    ((FileStream)output).Flush(flushToDisk: true);
#pragma warning restore CA1849
                }
                else
                {
                    await context.Stdout.FlushAsync(context.CancellationToken).ConfigureAwait(false);
                }

                var cleanup = await buffer.DoneFlushSegmentsAsync(flush.Segments, context.CancellationToken).ConfigureAwait(false);
                lost += cleanup.Losses.Sum(l => l.Count);
                segmentCount += flush.Segments.Count;
                if (rounds % 10 == 0)
                {
                    await context.Stderr.WriteLineAsync($"drained {segmentCount} segments, {spans} spans so far").ConfigureAwait(false);
                }

                await context.PauseAsync().ConfigureAwait(false);
            }
        }

        var after = await context.Store.GetQueueStatesAsync(shards, clock).WaitAsync(context.CancellationToken).ConfigureAwait(false);
        var remaining = after.Sum(s => s.Due);
        var report = new DrainReport(clock, [.. shards.Select(s => s.Shard)], rounds, segmentCount, spans, messages, lost, broken, remaining, toFile ? options.Output! : "stdout");

        // With the messages on stdout, the summary goes to stderr.
        var summaryTo = toFile ? context.Stdout : context.Stderr;
        if (options.Json)
        {
            await summaryTo.WriteLineAsync(ToolContext.ToJson(report)).ConfigureAwait(false);
        }
        else
        {
            await summaryTo.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"drained shards {string.Join(",", report.Shards)} at clock {clock}: {segmentCount} segments, {spans} spans in {messages} messages to {report.Output} ({rounds} rounds, {lost} spans lost, {broken} locks taken over), {remaining} due segments left")).ConfigureAwait(false);
        }

        if (remaining > 0)
        {
            await context.Stderr.WriteLineAsync($"warning: {remaining} segment(s) are still queued; another flusher may hold their locks (run drain again, or with --force).").ConfigureAwait(false);
            return ToolApp.ExitFindings;
        }

        return ToolApp.ExitHealthy;
    }
}
