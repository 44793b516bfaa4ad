using System.Globalization;
using StackExchange.Redis;

namespace SpanBuffer.Demo;

/// <summary>
/// Writes one progress line to stderr about once a second: spans read and ingested, segments flushed, queue depth
/// (from <see cref="SpansBuffer.GetQueueSizesAsync"/>) and whether ingest is paused by backpressure.
/// </summary>
internal sealed class ProgressReporter : IAsyncDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private readonly RunCounters _counters;
    private readonly SpansBuffer _buffer;
    private readonly SpanFlusher _flusher;
    private readonly FileSegmentSink _sink;
    private readonly TextWriter _stderr;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public ProgressReporter(RunCounters counters, SpansBuffer buffer, SpanFlusher flusher, FileSegmentSink sink, TextWriter stderr)
    {
        _counters = counters;
        _buffer = buffer;
        _flusher = flusher;
        _sink = sink;
        _stderr = stderr;
        _loop = RunAsync(_stop.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Interval);
        try
        {
            var last = TimeSpan.Zero;
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                // A timer that fell behind (a busy machine) ticks at once; keep to about one line a second.
                var now = _counters.OverallElapsed;
                if (now - last < Interval / 2)
                {
                    continue;
                }

                last = now;
                await _stderr.WriteLineAsync(await LineAsync(cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped.
        }
    }

    private async Task<string> LineAsync(CancellationToken cancellationToken)
    {
        string queued;
        try
        {
            var sizes = await _buffer.GetQueueSizesAsync(cancellationToken).ConfigureAwait(false);
            queued = sizes.Sum(s => s.Segments).ToString(CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            queued = "?";
        }

        var elapsed = _counters.IngestElapsed.TotalSeconds;
        var stats = _flusher.Statistics;
        var state = _counters.Draining ? "draining" : _counters.Paused ? "paused (backpressure)" : "ingesting";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"[{_counters.OverallElapsed.TotalSeconds,6:0.0}s] {state}: read {_counters.MessagesRead} (rejected {_counters.Rejected}), " +
            $"ingested {_counters.Ingested} spans ({_counters.Ingested / Math.Max(elapsed, 0.001):0}/s) | " +
            $"flushed {stats.SegmentsProduced} segments, {_sink.Spans} spans, {_sink.Messages} messages | queued {queued} segments");
    }
}
