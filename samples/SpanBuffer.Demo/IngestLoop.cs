using SpanBuffer.Models;

namespace SpanBuffer.Demo;

/// <summary>
/// The consumer side: reads messages, dead-letters the invalid ones, ingests the rest in batches and moves the
/// flusher's clock to each batch's clock, as a consumer driven by message timestamps would. Waits while the
/// flusher asks ingest to pause (backpressure).
/// </summary>
internal sealed class IngestLoop(DemoOptions options, SpansBuffer buffer, SpanFlusher flusher, RunCounters counters, TextWriter stderr)
{
    private const int RejectionsShown = 10;
    private static readonly TimeSpan PausePoll = TimeSpan.FromMilliseconds(100);

    /// <summary>Gets the largest ingest clock used so far (Unix seconds), or null before the first batch.</summary>
    public long? LatestClock { get; private set; }

    public async Task RunAsync(MessageSource source, CancellationToken cancellationToken)
    {
        var decoder = new MessageDecoder(options.Shards);
        var batch = new List<Span>(options.BatchSize);
        var batchClock = long.MaxValue;
        await foreach (var (line, message) in source.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            counters.MessageRead();
            if (!decoder.TryDecode(message, out var decoded, out var error))
            {
                counters.MessageRejected();
                await ReportRejectedAsync(line, error).ConfigureAwait(false);
                continue;
            }

            batch.Add(decoded.Span);
            batchClock = Math.Min(batchClock, decoded.ReceivedSeconds);
            if (batch.Count == options.BatchSize)
            {
                await IngestAsync(batch, batchClock, cancellationToken).ConfigureAwait(false);
                batch.Clear();
                batchClock = long.MaxValue;
            }
        }

        if (batch.Count > 0)
        {
            await IngestAsync(batch, batchClock, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task IngestAsync(List<Span> batch, long batchClock, CancellationToken cancellationToken)
    {
        if (flusher.ShouldPauseIngest)
        {
            counters.Paused = true;
            while (flusher.ShouldPauseIngest)
            {
                await Task.Delay(PausePoll, cancellationToken).ConfigureAwait(false);
            }

            counters.Paused = false;
        }

        var now = options.Now ?? batchClock;
        await buffer.ProcessSpansAsync(batch, now, cancellationToken).ConfigureAwait(false);
        counters.BatchIngested(batch.Count);
        LatestClock = Math.Max(LatestClock ?? now, now);
        flusher.AdvanceClock(now);
    }

    private async Task ReportRejectedAsync(long line, string error)
    {
        var rejected = counters.Rejected;
        if (rejected <= RejectionsShown)
        {
            await stderr.WriteLineAsync($"rejected line {line}: {error}").ConfigureAwait(false);
        }

        if (rejected == RejectionsShown)
        {
            await stderr.WriteLineAsync("(further rejected lines are counted, not shown)").ConfigureAwait(false);
        }
    }
}
