using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SpanBuffer.Diagnostics;
using SpanBuffer.Models;

namespace SpanBuffer;

/// <summary>
/// Runs the flush cycle for the buffer's assigned shards on a period: flush, hand every non-empty segment's
/// messages to the sink, wait for every acknowledgement, then clean up. A failed cycle is logged and counted and
/// its segments stay in Redis for the next one. Works as a hosted <see cref="BackgroundService"/> or on its own
/// (<see cref="BackgroundService.StartAsync"/>/<see cref="StopAsync"/>, or <see cref="FlushOnceAsync"/>).
/// </summary>
/// <remarks>
/// The flush clock is the wall clock plus a drift the host sets from message timestamps
/// (<see cref="AdvanceClock"/>), so consumer lag never flushes segments early. While ingest should pause
/// (<see cref="ShouldPauseIngest"/>) the drift is frozen, which pauses flushing too.
/// </remarks>
public sealed class SpanFlusher : BackgroundService
{
    private readonly SpansBuffer _buffer;
    private readonly ISegmentSink _sink;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _abortCycle = new();
    private long _drift;
    private long _heartbeat;
    private long _atLimitSince;
    private long _started;
    private int _hardBackpressure;
    private int _hardBackpressureLogged;
    private long _cycles;
    private long _failedCycles;
    private long _segmentsProduced;
    private long _spansProduced;
    private long _messagesProduced;
    private long _lostSpans;

    /// <summary>Creates a flusher for <paramref name="buffer"/>'s assigned shards.</summary>
    /// <param name="buffer">The buffer to flush; its options (shards, interval, backpressure) are read every cycle.</param>
    /// <param name="sink">Where segment messages go.</param>
    /// <param name="loggerFactory">Where logs go; none by default.</param>
    /// <param name="timeProvider">The wall clock and timers; the system clock by default.</param>
    public SpanFlusher(SpansBuffer buffer, ISegmentSink sink, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentNullException.ThrowIfNull(sink);
        _buffer = buffer;
        _sink = sink;
        _time = timeProvider ?? buffer.Time;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger(typeof(SpanFlusher).FullName!);
        _started = WallSeconds();
    }

    /// <summary>Gets the flush clock: wall-clock Unix seconds plus the drift set by <see cref="AdvanceClock"/>.</summary>
    public long Now => WallSeconds() + Interlocked.Read(ref _drift);

    /// <summary>Gets the drift between message time and wall-clock time, in seconds.</summary>
    public long Drift => Interlocked.Read(ref _drift);

    /// <summary>
    /// Gets a value indicating whether flushing has been at its per-shard limit for longer than the backpressure
    /// time: the flusher cannot keep up, and ingest should pause.
    /// </summary>
    public bool IsSoftBackpressureActive
    {
        get
        {
            var since = Interlocked.Read(ref _atLimitSince);
            return since > 0 && WallSeconds() - since > (long)_buffer.CurrentOptions.BackpressureTime.TotalSeconds;
        }
    }

    /// <summary>Gets a value indicating whether Redis memory was above the configured ratio at the last check.</summary>
    public bool IsHardBackpressureActive => Volatile.Read(ref _hardBackpressure) == 1;

    /// <summary>Gets a value indicating whether the consumer should stop ingesting for now (soft or hard backpressure).</summary>
    public bool ShouldPauseIngest => IsSoftBackpressureActive || IsHardBackpressureActive;

    /// <summary>Gets the age of the last completed flush attempt (the heartbeat); since the loop started (or the flusher was created) when none completed yet.</summary>
    public TimeSpan HeartbeatAge
    {
        get
        {
            var last = Interlocked.Read(ref _heartbeat);
            return TimeSpan.FromSeconds(Math.Max(0, WallSeconds() - (last > 0 ? last : Interlocked.Read(ref _started))));
        }
    }

    /// <summary>Gets a value indicating whether the heartbeat is younger than the max-unhealthy time.</summary>
    public bool IsHealthy => HeartbeatAge <= _buffer.CurrentOptions.MaxUnhealthyTime;

    /// <summary>Gets cumulative counts since the flusher was created.</summary>
    public SpanFlusherStatistics Statistics => new(
        Interlocked.Read(ref _cycles),
        Interlocked.Read(ref _failedCycles),
        Interlocked.Read(ref _segmentsProduced),
        Interlocked.Read(ref _spansProduced),
        Interlocked.Read(ref _messagesProduced),
        Interlocked.Read(ref _lostSpans));

    /// <summary>
    /// Moves the flush clock to message time: call it with the smallest timestamp of each ingested batch. Ignored
    /// while ingest should pause, so flushing pauses with ingest instead of producing fragmented segments.
    /// </summary>
    /// <param name="messageTimestampSeconds">Unix seconds of the batch's oldest message.</param>
    public void AdvanceClock(long messageTimestampSeconds)
    {
        if (ShouldPauseIngest)
        {
            return;
        }

        var drift = messageTimestampSeconds - WallSeconds();
        Interlocked.Exchange(ref _drift, drift);
        _buffer.Metrics.FlusherDrift.Record(drift);
    }

    /// <summary>
    /// Reads Redis memory (when the max memory ratio is below 1) and updates the hard backpressure state; also
    /// reports the soft state and the health to metrics and logs. The flusher runs it every cycle.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>Whether ingest should pause.</returns>
    public async Task<bool> CheckBackpressureAsync(CancellationToken cancellationToken = default)
    {
        var options = _buffer.CurrentOptions;
        var full = false;
        if (options.MaxMemoryRatio < 1.0)
        {
            var usage = await _buffer.GetMemoryUsageAsync(cancellationToken).ConfigureAwait(false);
            full = usage.AvailableBytes > 0 && usage.Ratio > options.MaxMemoryRatio;
            if (full && Interlocked.Exchange(ref _hardBackpressureLogged, 1) == 0)
            {
                Log.HardBackpressure(_logger, usage.UsedBytes, usage.AvailableBytes, options.MaxMemoryRatio);
            }
        }

        if (!full)
        {
            Interlocked.Exchange(ref _hardBackpressureLogged, 0);
        }

        Interlocked.Exchange(ref _hardBackpressure, full ? 1 : 0);
        if (full)
        {
            _buffer.Metrics.FlusherBackpressure.Add(1, new KeyValuePair<string, object?>("kind", "hard"));
        }

        if (IsSoftBackpressureActive)
        {
            _buffer.Metrics.FlusherBackpressure.Add(1, new KeyValuePair<string, object?>("kind", "soft"));
            Log.SoftBackpressure(_logger, WallSeconds() - Interlocked.Read(ref _atLimitSince));
        }

        if (!IsHealthy)
        {
            _buffer.Metrics.FlusherUnhealthy.Add(1);
            Log.FlusherUnhealthy(_logger, HeartbeatAge.TotalSeconds, options.MaxUnhealthyTime.TotalSeconds);
        }

        return ShouldPauseIngest;
    }

    /// <summary>
    /// Runs one cycle at flush time <paramref name="now"/>: flush, produce every non-empty segment, wait for all
    /// acknowledgements, clean up. When producing fails nothing is cleaned, so the segments flush again later.
    /// </summary>
    /// <param name="now">The flush clock in Unix seconds.</param>
    /// <param name="cancellationToken">Aborts the cycle; segments not yet cleaned flush again later.</param>
    /// <returns>The flush result of the cycle.</returns>
    public async Task<FlushResult> FlushOnceAsync(long now, CancellationToken cancellationToken = default)
    {
        using var activity = SpanBufferActivities.Source.StartActivity("spanbuffer.flusher.cycle");
        Interlocked.Increment(ref _cycles);
        try
        {
            var result = await _buffer.FlushSegmentsAsync(now, cancellationToken).ConfigureAwait(false);
            if (result.AnyShardAtLimit)
            {
                Interlocked.CompareExchange(ref _atLimitSince, WallSeconds(), 0);
            }
            else
            {
                Interlocked.Exchange(ref _atLimitSince, 0);
            }

            Interlocked.Exchange(ref _heartbeat, WallSeconds());
            if (result.Segments.Count == 0)
            {
                _buffer.Metrics.FlusherCycles.Add(1);
                return result;
            }

            await ProduceAsync(result, cancellationToken).ConfigureAwait(false);

            var started = _time.GetTimestamp();
            await _buffer.DoneFlushSegmentsAsync(result.Segments, cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _lostSpans, result.Losses.Where(l => l.Reason != SegmentLossReason.ExpiredBeforeFlush).Sum(l => l.Count));
            _buffer.Metrics.FlusherDuration.Record(_time.GetElapsedTime(started).TotalSeconds, SpanBufferMetrics.Stage("cleanup"));
            _buffer.Metrics.FlusherCycles.Add(1);
            return result;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Aborted on purpose (shutdown timeout): not a failure; uncleaned segments flush again later.
            _buffer.Metrics.FlusherCycles.Add(1, new KeyValuePair<string, object?>("error.type", "cancelled"));
            throw;
        }
        catch (Exception ex)
        {
            Interlocked.Increment(ref _failedCycles);
            _buffer.Metrics.FlusherCycles.Add(1, SpanBufferMetrics.ErrorType(ex));
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            throw;
        }
    }

    /// <summary>
    /// Stops the loop: the cycle in flight finishes (produce, acknowledgements, cleanup) unless
    /// <paramref name="cancellationToken"/> fires first (the host's shutdown timeout). Then the cycle is aborted: the
    /// token the sink got is cancelled, nothing of that cycle is cleaned (its segments are delivered again by a later
    /// run), and the loop ends.
    /// </summary>
    /// <param name="cancellationToken">Signalled when the host stops waiting; it aborts the cycle in flight.</param>
    /// <returns>A task that completes when the loop has stopped (after logging <c>FlusherStopped</c>).</returns>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // Returns when the loop ended or when the token fired, whichever comes first. (A registration that cancels
        // the cycle from inside the token's callbacks is not enough: it is disposed as soon as this await resumes,
        // which can happen inside the same callback run, before the registration's own callback was invoked.)
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (ExecuteTask is { IsCompleted: false } loop)
        {
            await _abortCycle.CancelAsync().ConfigureAwait(false);

            // Every wait of the cycle observes the abort token, so the loop ends promptly even if the sink ignores it.
            await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _abortCycle.Dispose();
        base.Dispose();
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Interlocked.Exchange(ref _started, WallSeconds());
        var shards = string.Join(',', _buffer.CurrentOptions.EffectiveShards);
        Log.FlusherStarted(_logger, shards);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var flushedAny = false;
                try
                {
                    await CheckBackpressureAsync(_abortCycle.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (_abortCycle.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex)
                {
                    Log.MemoryCheckFailed(_logger, ex);
                }

                try
                {
                    // The cycle ignores the stop signal: a started cycle finishes, so a stop never leaves
                    // produced-but-uncleaned segments behind (which would be produced again).
                    var result = await FlushOnceAsync(Now, _abortCycle.Token).ConfigureAwait(false);
                    flushedAny = result.Segments.Count > 0;
                }
                catch (OperationCanceledException) when (_abortCycle.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex)
                {
                    Log.FlusherCycleFailed(_logger, ex);
                }

                if (!flushedAny)
                {
                    try
                    {
                        await Task.Delay(FlushIntervalOrDefault(), _time, stoppingToken).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }
        }
        finally
        {
            Log.FlusherStopped(_logger, shards);
        }
    }

    private async Task ProduceAsync(FlushResult result, CancellationToken cancellationToken)
    {
        var maxBytes = _buffer.CurrentOptions.MaxSegmentBytes;
        var started = _time.GetTimestamp();
        var deliveries = new List<Task>();
        long segments = 0, spans = 0;
        foreach (var segment in result.Segments)
        {
            if (segment.Spans.Count == 0)
            {
                continue;
            }

            var messages = segment.ToMessages(maxBytes > 0 ? maxBytes : long.MaxValue);
            if (messages.Count > 1)
            {
                _buffer.Metrics.FlusherChunkedSegments.Add(1);
            }

            foreach (var message in messages)
            {
                _buffer.Metrics.FlusherMessageSize.Record(message.Length);
                deliveries.Add(_sink.ProduceAsync(message, cancellationToken));
            }

            segments++;
            spans += segment.Spans.Count;
        }

        if (result.Losses.Count > 0)
        {
            deliveries.Add(_sink.ReportLossesAsync(result.Losses, cancellationToken));
        }

        _buffer.Metrics.FlusherDuration.Record(_time.GetElapsedTime(started).TotalSeconds, SpanBufferMetrics.Stage("produce"));
        started = _time.GetTimestamp();
        await Task.WhenAll(deliveries).WaitAsync(cancellationToken).ConfigureAwait(false);
        _buffer.Metrics.FlusherDuration.Record(_time.GetElapsedTime(started).TotalSeconds, SpanBufferMetrics.Stage("wait_produce"));
        Interlocked.Add(ref _segmentsProduced, segments);
        Interlocked.Add(ref _spansProduced, spans);
        Interlocked.Add(ref _messagesProduced, deliveries.Count - (result.Losses.Count > 0 ? 1 : 0));
    }

    private long WallSeconds() => _time.GetUtcNow().ToUnixTimeSeconds();

    /// <summary>An invalid live options change fails the cycles (and is logged) but must not kill the loop.</summary>
    private TimeSpan FlushIntervalOrDefault()
    {
        try
        {
            return _buffer.CurrentOptions.FlushInterval;
        }
        catch (Microsoft.Extensions.Options.OptionsValidationException)
        {
            return TimeSpan.FromSeconds(1);
        }
    }
}

/// <summary>Cumulative counts of a <see cref="SpanFlusher"/>.</summary>
/// <param name="Cycles">Flush cycles run.</param>
/// <param name="FailedCycles">Cycles that failed (their segments were retried later).</param>
/// <param name="SegmentsProduced">Non-empty segments handed to the sink and acknowledged.</param>
/// <param name="SpansProduced">Spans in those segments.</param>
/// <param name="MessagesProduced">Messages handed to the sink and acknowledged.</param>
/// <param name="LostSpans">Spans found lost (dropped or invalid) by cycles that completed; expired segments are not spans and are not counted.</param>
public sealed record SpanFlusherStatistics(long Cycles, long FailedCycles, long SegmentsProduced, long SpansProduced, long MessagesProduced, long LostSpans);
