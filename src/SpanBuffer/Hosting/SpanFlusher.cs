using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SpanBuffer.Diagnostics;
using SpanBuffer.Models;

namespace SpanBuffer;

/// <summary>
/// Runs the flush cycle for the buffer's assigned shards on a period: flush, hand every non-empty segment's
/// messages to the sink, wait for every acknowledgement, then clean up the segments that were delivered. A segment
/// whose delivery failed stays in Redis for the next cycle, up to <see cref="SpanBufferOptions.MaxDeliveryAttempts"/>
/// cycles in a row; then it goes to <see cref="ISegmentSink.DeadLetterAsync"/> (or is counted as lost) and is
/// cleaned. Cycles that get nothing through back off exponentially (flush interval doubled, up to 30 s). Works as a hosted <see cref="BackgroundService"/> or on its own
/// (<see cref="BackgroundService.StartAsync"/>/<see cref="StopAsync"/>, or <see cref="FlushOnceAsync"/>).
/// </summary>
/// <remarks>
/// The flush clock is the wall clock plus a drift the host sets from message timestamps
/// (<see cref="AdvanceClock"/>), so consumer lag never flushes segments early. While ingest should pause
/// (<see cref="ShouldPauseIngest"/>) the drift is frozen, which pauses flushing too.
/// </remarks>
public sealed class SpanFlusher : BackgroundService
{
    /// <summary>The most segment keys whose failed attempts are remembered.</summary>
    private const int MaxTrackedSegments = 10_000;

    /// <summary>The longest wait after cycles that got nothing delivered (unless the flush interval is longer).</summary>
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly SpansBuffer _buffer;
    private readonly ISegmentSink _sink;
    private static readonly TimeSpan LockReleaseTimeout = TimeSpan.FromSeconds(5);
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _abortCycle = new();

    /// <summary>Failed delivery attempts per segment key, forgotten once the segment is cleaned.</summary>
    private readonly Dictionary<string, int> _failedAttempts = new(StringComparer.Ordinal);
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
    private long _failedDeliveries;
    private long _deadLetteredSegments;
    private long _abandonedSegments;

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

    /// <summary>
    /// Gets the age of the heartbeat: the last cycle that made progress, i.e. found nothing to deliver or got at least
    /// one segment delivered (or dead-lettered). A cycle that fails, or in which every delivery failed, does not
    /// renew it, so a flusher that is stuck turns unhealthy. Counted from the loop start (or the flusher's creation)
    /// until such a cycle.
    /// </summary>
    public TimeSpan HeartbeatAge
    {
        get
        {
            var last = Interlocked.Read(ref _heartbeat);
            return TimeSpan.FromSeconds(Math.Max(0, WallSeconds() - (last > 0 ? last : Interlocked.Read(ref _started))));
        }
    }

    /// <summary>Gets a value indicating whether the heartbeat (see <see cref="HeartbeatAge"/>) is no older than the max-unhealthy time.</summary>
    public bool IsHealthy => HeartbeatAge <= _buffer.CurrentOptions.MaxUnhealthyTime;

    /// <summary>Gets cumulative counts since the flusher was created.</summary>
    public SpanFlusherStatistics Statistics => new(
        Interlocked.Read(ref _cycles),
        Interlocked.Read(ref _failedCycles),
        Interlocked.Read(ref _segmentsProduced),
        Interlocked.Read(ref _spansProduced),
        Interlocked.Read(ref _messagesProduced),
        Interlocked.Read(ref _lostSpans),
        Interlocked.Read(ref _failedDeliveries),
        Interlocked.Read(ref _deadLetteredSegments),
        Interlocked.Read(ref _abandonedSegments));

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
    /// acknowledgements, then clean up exactly the segments all of whose messages were acknowledged (and the empty
    /// ones). A segment with a failed message stays in Redis and is delivered again, whole, by a later cycle; after
    /// <see cref="SpanBufferOptions.MaxDeliveryAttempts"/> failed cycles in a row it is offered to
    /// <see cref="ISegmentSink.DeadLetterAsync"/> and cleaned (counted as lost unless the sink took it). The losses of
    /// the cleaned segments go to <see cref="ISegmentSink.ReportLossesAsync"/> after the cleanup.
    /// </summary>
    /// <param name="now">The flush clock in Unix seconds.</param>
    /// <param name="cancellationToken">Aborts the cycle; nothing of an aborted cycle is cleaned, so its segments flush again later.</param>
    /// <returns>The flush result of the cycle.</returns>
    /// <exception cref="Exception">
    /// The first delivery failure of a segment that stays in Redis for retry, rethrown after the delivered segments
    /// were cleaned; or the failure of the flush or the cleanup.
    /// </exception>
    public async Task<FlushResult> FlushOnceAsync(long now, CancellationToken cancellationToken = default)
    {
        var outcome = await RunCycleAsync(now, cancellationToken).ConfigureAwait(false);
        if (outcome.FirstError is { } error)
        {
            ExceptionDispatchInfo.Throw(error);
        }

        return outcome.Result;
    }

    private async Task<CycleOutcome> RunCycleAsync(long now, CancellationToken cancellationToken)
    {
        using var activity = SpanBufferActivities.Source.StartActivity("spanbuffer.flusher.cycle");
        Interlocked.Increment(ref _cycles);
        FlushResult? flushed = null;
        var cleaning = false;
        try
        {
            var options = _buffer.CurrentOptions;
            var result = await _buffer.FlushSegmentsAsync(now, cancellationToken).ConfigureAwait(false);
            flushed = result;
            if (result.AnyShardAtLimit)
            {
                Interlocked.CompareExchange(ref _atLimitSince, WallSeconds(), 0);
            }
            else
            {
                Interlocked.Exchange(ref _atLimitSince, 0);
            }

            if (result.Segments.Count == 0)
            {
                // Nothing due: an idle flusher is a healthy one.
                Interlocked.Exchange(ref _heartbeat, WallSeconds());
                _buffer.Metrics.FlusherCycles.Add(1);
                return new CycleOutcome(result, CycleProgress.Idle, null);
            }

            var deliveries = await ProduceAsync(result, options.MaxSegmentBytes, cancellationToken).ConfigureAwait(false);
            var cycle = await SettleAsync(result, deliveries, options.MaxDeliveryAttempts, cancellationToken).ConfigureAwait(false);

            if (cycle.Retried.Count > 0)
            {
                // Retried at once by the next cycle, not after the lock TTL.
                await _buffer.ReleaseFlushLocksAsync(cycle.Retried, cancellationToken).ConfigureAwait(false);
            }

            var losses = (IReadOnlyList<SegmentLoss>)[];
            if (cycle.Clean.Count > 0)
            {
                var started = _time.GetTimestamp();
                cleaning = true;

                // The cleanup's losses are final and exactly once: a segment another flusher cleaned first is its.
                losses = (await _buffer.DoneFlushSegmentsAsync(cycle.Clean, cancellationToken).ConfigureAwait(false)).Losses;
                _buffer.Metrics.FlusherDuration.Record(_time.GetElapsedTime(started).TotalSeconds, SpanBufferMetrics.Stage("cleanup"));
                ForgetAttempts(cycle.Clean);
            }

            // Published once the cleanup succeeded: a segment whose cleanup failed is given up on again next cycle.
            foreach (var givenUp in cycle.GivenUp)
            {
                PublishGivenUp(givenUp);
            }

            Interlocked.Add(ref _segmentsProduced, cycle.DeliveredSegments);
            Interlocked.Add(ref _spansProduced, cycle.DeliveredSpans);
            Interlocked.Add(ref _messagesProduced, cycle.DeliveredMessages);
            Interlocked.Add(ref _lostSpans, losses.Where(l => l.Reason != SegmentLossReason.ExpiredBeforeFlush).Sum(l => l.Count));

            // The heartbeat means progress: a cycle that had segments to deliver and got none of them anywhere
            // (every delivery failed, nothing dead-lettered) leaves it alone, so a stuck flusher turns unhealthy.
            var deliveredAny = cycle.DeliveredSegments + cycle.DeadLetteredSegments > 0;
            if (deliveries.Count == 0 || deliveredAny)
            {
                Interlocked.Exchange(ref _heartbeat, WallSeconds());
            }

            if (losses.Count > 0)
            {
                await _sink.ReportLossesAsync(losses, cancellationToken).ConfigureAwait(false);
            }

            if (cycle.FailedSegments > 0)
            {
                Interlocked.Increment(ref _failedCycles);
                _buffer.Metrics.FlusherCycles.Add(1, SpanBufferMetrics.ErrorType(cycle.LastError));
                activity?.SetStatus(ActivityStatusCode.Error, cycle.LastError!.GetType().Name);
            }
            else
            {
                _buffer.Metrics.FlusherCycles.Add(1);
            }

            if (cycle.RetriedError is { } retried)
            {
                Log.SegmentDeliveryFailed(_logger, cycle.RetriedSegments, deliveries.Count, cycle.Clean.Count, retried);
            }

            var progress = deliveredAny || cycle.AbandonedSegments > 0 || cycle.RetriedSegments == 0
                ? CycleProgress.Progress
                : CycleProgress.Stalled;
            return new CycleOutcome(result, progress, cycle.RetriedError);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Aborted on purpose (shutdown timeout): not a failure; uncleaned segments flush again later.
            _buffer.Metrics.FlusherCycles.Add(1, new KeyValuePair<string, object?>("error.type", "cancelled"));
            await ReleaseLocksOfUncleanedCycleAsync(flushed, cleaning).ConfigureAwait(false);
            throw;
        }
        catch (Exception ex)
        {
            Interlocked.Increment(ref _failedCycles);
            _buffer.Metrics.FlusherCycles.Add(1, SpanBufferMetrics.ErrorType(ex));
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            await ReleaseLocksOfUncleanedCycleAsync(flushed, cleaning).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// After a cycle that ended before its cleanup (aborted at shutdown, or a sink that threw), hands its segments'
    /// flush locks back, so that the next flusher of the shard (after a rebalance, another consumer) takes them at once
    /// instead of after the lock TTL. Never once the cleanup started: its fences must stay until it removed the queue
    /// entries. Best effort with its own short timeout: a lock that stays simply expires.
    /// </summary>
    private async Task ReleaseLocksOfUncleanedCycleAsync(FlushResult? flushed, bool cleaning)
    {
        if (flushed is null || cleaning || flushed.Segments.Count == 0 || _buffer.CurrentOptions.FlushLockTtl <= TimeSpan.Zero)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(LockReleaseTimeout, _time);
            await _buffer.ReleaseFlushLocksAsync(flushed.Segments, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.CycleLocksKept(_logger, ex, flushed.Segments.Count);
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
        Log.FlusherStarted(_logger, string.Join(',', _buffer.AssignedShards));
        var stalledCycles = 0;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
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

                CycleProgress progress;
                try
                {
                    // The cycle ignores the stop signal: a started cycle finishes, so a stop never leaves
                    // produced-but-uncleaned segments behind (which would be produced again). Only the abort
                    // (StopAsync's token) cuts it short.
                    progress = (await RunCycleAsync(Now, _abortCycle.Token).ConfigureAwait(false)).Progress;
                }
                catch (OperationCanceledException) when (_abortCycle.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception ex)
                {
                    Log.FlusherCycleFailed(_logger, ex);
                    progress = CycleProgress.Stalled;
                }

                TimeSpan delay;
                if (progress == CycleProgress.Progress)
                {
                    stalledCycles = 0;
                    continue;
                }

                if (progress == CycleProgress.Idle)
                {
                    stalledCycles = 0;
                    delay = FlushIntervalOrDefault();
                }
                else
                {
                    stalledCycles++;
                    delay = Backoff(FlushIntervalOrDefault(), stalledCycles);
                    if (stalledCycles > 1)
                    {
                        Log.FlusherBackingOff(_logger, stalledCycles, delay.TotalSeconds);
                    }

                    _buffer.Metrics.FlusherBackoff.Record(delay.TotalSeconds);
                }

                try
                {
                    await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        finally
        {
            Log.FlusherStopped(_logger, string.Join(',', _buffer.AssignedShards));
        }
    }

    /// <summary>
    /// The wait after the <paramref name="stalledCycles"/>-th cycle in a row that got nothing delivered: the flush
    /// interval, doubled each time, up to <see cref="MaxBackoff"/> (or the interval, when that is longer).
    /// </summary>
    internal static TimeSpan Backoff(TimeSpan interval, int stalledCycles)
    {
        var cap = interval > MaxBackoff ? interval : MaxBackoff;
        var factor = Math.Pow(2, Math.Min(stalledCycles - 1, 30));
        var ticks = interval.Ticks * factor;
        return ticks >= cap.Ticks ? cap : TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>Starts every message of every non-empty segment; one task per segment, faulted when any of its messages failed.</summary>
    private async Task<List<Delivery>> ProduceAsync(FlushResult result, long maxBytes, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var deliveries = new List<Delivery>();
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

            var acknowledgements = new Task[messages.Count];
            for (var i = 0; i < messages.Count; i++)
            {
                _buffer.Metrics.FlusherMessageSize.Record(messages[i].Length);
                acknowledgements[i] = StartProduce(messages[i], cancellationToken);
            }

            deliveries.Add(new Delivery(segment, messages.Count, acknowledgements.Length == 1 ? acknowledgements[0] : Task.WhenAll(acknowledgements)));
        }

        _buffer.Metrics.FlusherDuration.Record(_time.GetElapsedTime(started).TotalSeconds, SpanBufferMetrics.Stage("produce"));
        started = _time.GetTimestamp();

        // Failures are per segment (read below); only the abort ends the wait early.
        await Task.WhenAll(deliveries.Select(d => d.Acknowledged)).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        cancellationToken.ThrowIfCancellationRequested();
        _buffer.Metrics.FlusherDuration.Record(_time.GetElapsedTime(started).TotalSeconds, SpanBufferMetrics.Stage("wait_produce"));
        return deliveries;
    }

    /// <summary>A sink that throws instead of returning a faulted task fails that message only.</summary>
    private Task StartProduce(SegmentMessage message, CancellationToken cancellationToken)
    {
        try
        {
            return _sink.ProduceAsync(message, cancellationToken) ?? Task.CompletedTask;
        }
        catch (Exception ex)
        {
            return Task.FromException(ex);
        }
    }

    /// <summary>
    /// Decides every segment's fate after the acknowledgements: clean the empty and delivered ones; count a failed
    /// attempt for the others and keep them for retry, or, at the attempt limit, offer them to the dead-letter sink
    /// and clean them (as lost unless taken).
    /// </summary>
    private async Task<SettledCycle> SettleAsync(FlushResult result, List<Delivery> deliveries, int maxAttempts, CancellationToken cancellationToken)
    {
        var cycle = new SettledCycle();
        foreach (var segment in result.Segments)
        {
            if (segment.Spans.Count == 0)
            {
                cycle.Clean.Add(segment);
            }
        }

        var failed = new List<(FlushedSegment Segment, Exception Error)>();
        foreach (var delivery in deliveries)
        {
            if (delivery.Acknowledged.IsCompletedSuccessfully)
            {
                cycle.Clean.Add(delivery.Segment);
                cycle.DeliveredSegments++;
                cycle.DeliveredSpans += delivery.Segment.Spans.Count;
                cycle.DeliveredMessages += delivery.Messages;
                continue;
            }

            var error = delivery.Acknowledged.Exception?.InnerException
                ?? new OperationCanceledException("The sink cancelled the delivery.");
            failed.Add((delivery.Segment, error));
        }

        if (failed.Count == 0)
        {
            return cycle;
        }

        cycle.FailedSegments = failed.Count;
        cycle.LastError = failed[^1].Error;
        Interlocked.Add(ref _failedDeliveries, failed.Count);
        _buffer.Metrics.FlusherFailedDeliveries.Add(failed.Count);
        var attempts = CountFailedAttempts(failed);
        for (var i = 0; i < failed.Count; i++)
        {
            var (segment, error) = failed[i];
            if (attempts[i] < maxAttempts)
            {
                cycle.Retried.Add(segment);
                cycle.RetriedError ??= error;
                continue;
            }

            cycle.Clean.Add(segment);
            var taken = await OfferDeadLetterAsync(segment, error, cancellationToken).ConfigureAwait(false);
            cycle.GivenUp.Add(new GivenUpSegment(segment, attempts[i], error, taken));
            if (taken)
            {
                cycle.DeadLetteredSegments++;
            }
            else
            {
                cycle.AbandonedSegments++;

                // Final, like the segment's other losses, only when its cleanup removes it.
                segment.Losses = [.. segment.Losses, new SegmentLoss(segment.ProjectId, segment.Spans.Count, SegmentLossReason.DeliveryFailed)];
            }
        }

        return cycle;
    }

    private void PublishGivenUp(GivenUpSegment givenUp)
    {
        var segment = givenUp.Segment;
        if (givenUp.DeadLettered)
        {
            Interlocked.Increment(ref _deadLetteredSegments);
            _buffer.Metrics.FlusherAbandonedSegments.Add(1, SpanBufferMetrics.Kind("dead_lettered"));
            Log.SegmentDeadLettered(_logger, segment.SegmentKey, segment.Spans.Count, givenUp.Attempts, givenUp.LastError);
        }
        else
        {
            Interlocked.Increment(ref _abandonedSegments);
            _buffer.Metrics.FlusherAbandonedSegments.Add(1, SpanBufferMetrics.Kind("lost"));
            Log.SegmentDeliveryAbandoned(_logger, segment.SegmentKey, segment.ProjectId, segment.Spans.Count, givenUp.Attempts, givenUp.LastError);
        }
    }

    private async Task<bool> OfferDeadLetterAsync(FlushedSegment segment, Exception lastError, CancellationToken cancellationToken)
    {
        try
        {
            return await _sink.DeadLetterAsync(segment, lastError, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            Log.DeadLetterFailed(_logger, segment.SegmentKey, ex);
            return false;
        }
    }

    /// <summary>Adds one failed attempt per segment and returns the counts; keeps the table bounded.</summary>
    private int[] CountFailedAttempts(List<(FlushedSegment Segment, Exception Error)> failed)
    {
        var counts = new int[failed.Count];
        lock (_failedAttempts)
        {
            for (var i = 0; i < failed.Count; i++)
            {
                var key = failed[i].Segment.SegmentKey;
                counts[i] = _failedAttempts[key] = _failedAttempts.GetValueOrDefault(key) + 1;
            }

            if (_failedAttempts.Count > MaxTrackedSegments)
            {
                // Segments that failed earlier but not now (flushed elsewhere, expired, locked): forget them. At worst
                // such a segment starts counting again, which delays its dead-lettering but loses nothing.
                var current = failed.Select(f => f.Segment.SegmentKey).ToHashSet(StringComparer.Ordinal);
                foreach (var key in _failedAttempts.Keys.Where(k => !current.Contains(k)).ToList())
                {
                    _failedAttempts.Remove(key);
                }
            }
        }

        return counts;
    }

    private void ForgetAttempts(List<FlushedSegment> cleaned)
    {
        lock (_failedAttempts)
        {
            if (_failedAttempts.Count == 0)
            {
                return;
            }

            foreach (var segment in cleaned)
            {
                _failedAttempts.Remove(segment.SegmentKey);
            }
        }
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
/// <param name="FailedCycles">Cycles that failed or in which a segment's delivery failed (such segments were retried later or given up on).</param>
/// <param name="SegmentsProduced">Non-empty segments handed to the sink and acknowledged.</param>
/// <param name="SpansProduced">Spans in those segments.</param>
/// <param name="MessagesProduced">Messages of those segments.</param>
/// <param name="LostSpans">Spans counted lost (dropped, invalid, or of segments given up on after failed deliveries) in segments that were cleaned; expired segments are not spans and are not counted.</param>
/// <param name="FailedDeliveries">Segment delivery attempts that failed (a segment with any failed message counts once per cycle).</param>
/// <param name="DeadLetteredSegments">Segments given up on after <see cref="SpanBufferOptions.MaxDeliveryAttempts"/> that the sink's dead-letter method took.</param>
/// <param name="AbandonedSegments">Segments given up on that no dead-letter destination took; their spans are in <paramref name="LostSpans"/>.</param>
public sealed record SpanFlusherStatistics(
    long Cycles,
    long FailedCycles,
    long SegmentsProduced,
    long SpansProduced,
    long MessagesProduced,
    long LostSpans,
    long FailedDeliveries = 0,
    long DeadLetteredSegments = 0,
    long AbandonedSegments = 0);

/// <summary>How a cycle went, for the loop's wait: nothing due, something moved, or everything failed.</summary>
internal enum CycleProgress
{
    Idle,
    Progress,
    Stalled,
}

/// <summary>The result of a cycle plus what the loop and <see cref="SpanFlusher.FlushOnceAsync"/> need.</summary>
internal sealed record CycleOutcome(FlushResult Result, CycleProgress Progress, Exception? FirstError);

/// <summary>One segment's messages in flight: the task completes when all are acknowledged and faults when one failed.</summary>
internal sealed record Delivery(FlushedSegment Segment, int Messages, Task Acknowledged);

/// <summary>A segment given up on after its last allowed failed attempt, and whether the dead-letter sink took it.</summary>
internal sealed record GivenUpSegment(FlushedSegment Segment, int Attempts, Exception LastError, bool DeadLettered);

/// <summary>The fate of a cycle's segments.</summary>
internal sealed class SettledCycle
{
    public List<FlushedSegment> Clean { get; } = [];

    public List<GivenUpSegment> GivenUp { get; } = [];

    /// <summary>Gets the segments whose delivery failed and that the next cycle retries.</summary>
    public List<FlushedSegment> Retried { get; } = [];

    public int DeliveredSegments { get; set; }

    public long DeliveredSpans { get; set; }

    public long DeliveredMessages { get; set; }

    public int FailedSegments { get; set; }

    public int RetriedSegments => Retried.Count;

    public int DeadLetteredSegments { get; set; }

    public int AbandonedSegments { get; set; }

    public Exception? RetriedError { get; set; }

    public Exception? LastError { get; set; }
}
