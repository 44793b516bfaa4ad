namespace SpanBuffer.Demo;

/// <summary>
/// Empties the buffer at the end of input, with the live flusher stopped: flushes with a clock past every
/// deadline until a flush returns nothing and every queue is empty, moving the clock on if segments are still
/// queued but not yet due.
/// </summary>
internal static class FlushDrain
{
    private const int MaxClockAdvances = 10;

    /// <summary>Drains, starting one timeout past <c>latestClock</c> (the largest ingest clock used); returns whether every queue ended empty.</summary>
    public static async Task<bool> RunAsync(SpansBuffer buffer, SpanFlusher flusher, SpanBufferOptions options, long latestClock, TextWriter stderr, CancellationToken cancellationToken)
    {
        var step = (long)Math.Max(options.Timeout.TotalSeconds, options.RootTimeout.TotalSeconds);
        var now = latestClock + step + 1;
        var queued = await QueuedAsync(buffer, cancellationToken).ConfigureAwait(false);

        // Each flush that returns segments removes them from the queues, so this bound is only hit if cleanup stops working.
        var flushesLeft = queued + 1000;
        var advances = 0;
        while (true)
        {
            var result = await flusher.FlushOnceAsync(now, cancellationToken).ConfigureAwait(false);
            if (result.Segments.Count > 0 && --flushesLeft > 0)
            {
                continue;
            }

            queued = await QueuedAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (queued == 0)
            {
                return true;
            }

            if (flushesLeft <= 0 || ++advances > MaxClockAdvances)
            {
                await stderr.WriteLineAsync($"warning: the drain stopped with {queued} segments still queued (flush clock {now}).").ConfigureAwait(false);
                return false;
            }

            now += step;
        }
    }

    private static async Task<long> QueuedAsync(SpansBuffer buffer, CancellationToken cancellationToken) =>
        (await buffer.GetQueueSizesAsync(cancellationToken).ConfigureAwait(false)).Sum(s => s.Segments);
}
