using SpanBuffer.Models;

namespace SpanBuffer;

/// <summary>
/// Where the flusher hands finished segments: a Kafka producer, a task queue, a file. The flusher starts every
/// message of a cycle, waits for all of them, then deletes from Redis exactly the segments all of whose messages were
/// acknowledged (at-least-once); a segment with a failed message stays in Redis and is delivered again, whole, by a
/// later cycle.
/// </summary>
/// <remarks>
/// <see cref="ProduceAsync"/> is called for every message of a cycle before any of the returned tasks is awaited, so
/// calls overlap: an implementation must be safe for concurrent use (a Kafka producer is). A message may be produced
/// again after a failed or aborted cycle; its <see cref="SegmentMessage.FlushId"/> is then new. A segment that fails
/// <see cref="SpanBufferOptions.MaxDeliveryAttempts"/> cycles in a row is offered to <see cref="DeadLetterAsync"/> and
/// then deleted from Redis whatever the answer.
/// </remarks>
public interface ISegmentSink
{
    /// <summary>Delivers one segment message; the returned task completes when delivery is acknowledged.</summary>
    /// <param name="message">The message; write it with <see cref="SegmentMessage.WriteTo"/>.</param>
    /// <param name="cancellationToken">Signalled when the host gives up waiting (shutdown timeout).</param>
    /// <returns>A task that completes on acknowledgement and faults when delivery failed.</returns>
    Task ProduceAsync(SegmentMessage message, CancellationToken cancellationToken);

    /// <summary>
    /// Receives the spans lost (expired, vanished, unreadable, or given up on after failed deliveries), so the host
    /// can emit outcomes. Called once per flush cycle, after its cleanup, with the losses of the segments that cycle
    /// deleted from Redis: a segment retried over several cycles has its losses reported once. Does nothing unless
    /// implemented.
    /// </summary>
    /// <param name="losses">Lost spans per project and reason.</param>
    /// <param name="cancellationToken">Signalled when the host gives up waiting.</param>
    /// <returns>A task that completes when the losses are recorded.</returns>
    Task ReportLossesAsync(IReadOnlyList<SegmentLoss> losses, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Offered a segment whose delivery failed <see cref="SpanBufferOptions.MaxDeliveryAttempts"/> cycles in a row
    /// (a poison segment), e.g. to write it to a dead-letter topic. The segment is deleted from Redis afterwards
    /// whatever this returns, so the other segments keep flowing. When it returns <see langword="false"/> (the
    /// default) or throws, the segment's spans are counted as lost with <see cref="SegmentLossReason.DeliveryFailed"/>
    /// and reported through <see cref="ReportLossesAsync"/>.
    /// </summary>
    /// <param name="segment">The segment; <see cref="FlushedSegment.ToMessages"/> gives its messages.</param>
    /// <param name="lastError">Why its last delivery attempt failed.</param>
    /// <param name="cancellationToken">Signalled when the host gives up waiting.</param>
    /// <returns>Whether the sink took the segment (then it is not counted as lost).</returns>
    Task<bool> DeadLetterAsync(FlushedSegment segment, Exception lastError, CancellationToken cancellationToken) => Task.FromResult(false);
}
