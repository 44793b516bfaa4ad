using SpanBuffer.Models;

namespace SpanBuffer;

/// <summary>
/// Where the flusher hands finished segments: a Kafka producer, a task queue, a file. The flusher starts every
/// message of a cycle, waits for all of them, and only then deletes the segments from Redis (at-least-once).
/// </summary>
/// <remarks>
/// <see cref="ProduceAsync"/> is called for every message of a cycle before any of the returned tasks is awaited, so
/// calls overlap: an implementation must be safe for concurrent use (a Kafka producer is). A message may be produced
/// again after a failed or aborted cycle; its <see cref="SegmentMessage.FlushId"/> is then new.
/// </remarks>
public interface ISegmentSink
{
    /// <summary>Delivers one segment message; the returned task completes when delivery is acknowledged.</summary>
    /// <param name="message">The message; write it with <see cref="SegmentMessage.WriteTo"/>.</param>
    /// <param name="cancellationToken">Signalled when the host gives up waiting (shutdown timeout).</param>
    /// <returns>A task that completes on acknowledgement and faults when delivery failed.</returns>
    Task ProduceAsync(SegmentMessage message, CancellationToken cancellationToken);

    /// <summary>
    /// Receives the spans a flush found lost (expired, vanished or unreadable), so the host can emit outcomes.
    /// Called once per flush cycle that found losses. Does nothing unless implemented.
    /// </summary>
    /// <param name="losses">Lost spans per project and reason.</param>
    /// <param name="cancellationToken">Signalled when the host gives up waiting.</param>
    /// <returns>A task that completes when the losses are recorded.</returns>
    Task ReportLossesAsync(IReadOnlyList<SegmentLoss> losses, CancellationToken cancellationToken) => Task.CompletedTask;
}
