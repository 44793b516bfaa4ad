using SpanBuffer.Models;

namespace SpanBuffer;

/// <summary>What one cleanup removed, and the losses that are now final.</summary>
/// <param name="Segments">Segments cleaned up.</param>
/// <param name="Requeued">Segments that received spans while they were being flushed: those spans stay queued for a later flush.</param>
/// <param name="CleanedElsewhere">Segments another flusher had already cleaned up (an overlapping flush delivered them too).</param>
/// <param name="Losses">
/// The losses of the segments whose data this cleanup removed, per project and reason: report these (once), not the
/// ones a flush found, which repeat when a segment is flushed again after a failed hand-off.
/// </param>
public sealed record CleanupResult(int Segments, int Requeued, int CleanedElsewhere, IReadOnlyList<SegmentLoss> Losses);
