using System.Buffers;
using SpanBuffer.Models;

namespace SpanBuffer.Benchmarks;

/// <summary>Sink faults armed by the injector and taken by whichever sink gets the next message.</summary>
internal sealed class ChaosSinkFaults(TimeSpan hang)
{
    private int _failures;
    private int _hangs;

    public TimeSpan Hang { get; } = hang;

    public void ArmFailure() => Interlocked.Increment(ref _failures);

    public void ArmHang() => Interlocked.Increment(ref _hangs);

    public void Disarm()
    {
        Interlocked.Exchange(ref _failures, 0);
        Interlocked.Exchange(ref _hangs, 0);
    }

    public bool TakeFailure() => TryTake(ref _failures);

    public bool TakeHang() => TryTake(ref _hangs);

    private static bool TryTake(ref int armed)
    {
        while (true)
        {
            var current = Volatile.Read(ref armed);
            if (current == 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref armed, current - 1, current) == current)
            {
                return true;
            }
        }
    }
}

/// <summary>
/// The checking sink of one flusher: marks every span of an acknowledged message as delivered, fails or hangs a
/// message when a fault is armed, and sorts the losses the flusher reports into those of cycles that completed
/// (counted once) and those of cycles that failed afterwards (whose losses will be reported again).
/// </summary>
/// <remarks>
/// The flusher calls <see cref="ReportLossesAsync"/> after the cycle's last <see cref="ProduceAsync"/> and before its
/// acknowledgements and cleanup, and adds the cycle's span losses to <see cref="SpanFlusherStatistics.LostSpans"/> only
/// after the cleanup. So by the next call into this sink (a later cycle) or once the flusher has stopped, a report's
/// cycle is over, and it completed exactly when LostSpans grew by the report's span count.
/// </remarks>
internal sealed class ChaosSink(string name, ChaosWorkload workload, ChaosTally tally, ChaosSinkFaults faults) : ISegmentSink
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    private readonly Lock _gate = new();
    private PendingReport? _pending;

    public string Name { get; } = name;

    /// <summary>Gets or sets the flusher this sink belongs to (set right after constructing it).</summary>
    public SpanFlusher? Flusher { get; set; }

    public async Task ProduceAsync(SegmentMessage message, CancellationToken cancellationToken)
    {
        ResolvePendingLosses();

        // Acknowledgements arrive later, on other threads, as a producer's would.
        await Task.Yield();
        if (faults.TakeFailure())
        {
            ChaosTally.Add(tally.SinkFaultOutcomes, "failed");
            throw new InvalidOperationException($"chaos: injected delivery failure ({Name})");
        }

        if (faults.TakeHang())
        {
            try
            {
                await Task.Delay(faults.Hang, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                ChaosTally.Add(tally.SinkFaultOutcomes, "hang ended by cancellation");
                throw;
            }

            ChaosTally.Add(tally.SinkFaultOutcomes, "hang timed out");
            throw new TimeoutException($"chaos: injected delivery hang timed out after {faults.Hang.TotalSeconds:0.#} s ({Name})");
        }

        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1 << 16);
        buffer.ResetWrittenCount();
        message.WriteTo(buffer);
        foreach (var span in message.Spans)
        {
            tally.MarkDelivered(workload.NumberOf(span.Json.Span, span.SpanId));
        }

        tally.CountMessage();
    }

    public Task ReportLossesAsync(IReadOnlyList<SegmentLoss> losses, CancellationToken cancellationToken)
    {
        ResolvePendingLosses();
        var statistics = Flusher?.Statistics;
        lock (_gate)
        {
            foreach (var loss in losses)
            {
                ChaosTally.Add(tally.ReportedLosses, loss.Reason, loss.Count);
            }

            _pending = new PendingReport(
                [.. losses],
                losses.Where(l => l.Reason != SegmentLossReason.ExpiredBeforeFlush).Sum(l => l.Count),
                statistics?.LostSpans ?? 0,
                statistics?.FailedCycles ?? 0);
        }

        return Task.CompletedTask;
    }

    /// <summary>Decides the last report: its cycle is over by now (call it only between cycles or after the flusher stopped).</summary>
    public void ResolvePendingLosses()
    {
        var statistics = Flusher?.Statistics;
        lock (_gate)
        {
            if (_pending is not { } pending || statistics is null)
            {
                return;
            }

            _pending = null;
            var completed = pending.Spans > 0
                ? statistics.LostSpans - pending.LostSpansBefore >= pending.Spans
                : statistics.FailedCycles == pending.FailedCyclesBefore;
            foreach (var loss in pending.Losses)
            {
                ChaosTally.Add(completed ? tally.ConfirmedLosses : tally.RetractedLosses, loss.Reason, loss.Count);
            }
        }
    }

    private sealed record PendingReport(SegmentLoss[] Losses, long Spans, long LostSpansBefore, long FailedCyclesBefore);
}
