using SpanBuffer.Models;

namespace SpanBuffer.Flush;

/// <summary>The settings the loss estimate needs, read once per flush.</summary>
internal readonly record struct LossSettings(long RootTimeoutSeconds, long TtlSeconds);

/// <summary>
/// Loss accounting for a flush (reference §4.5): spans ingested but not loaded, spans whose payload was not a
/// JSON object, and empty segments whose data most likely expired. Pure; the queue deadlines it needs are read
/// by the store beforehand for exactly the segments <see cref="NeedingDeadline"/> names.
/// </summary>
internal static class SegmentLosses
{
    /// <summary>Segments with neither data nor counters: only their queue deadline can tell whether they expired.</summary>
    public static IReadOnlyList<FlushCandidate> NeedingDeadline(IReadOnlyList<BuiltSegment> built) =>
        built.Where(b => b.Loaded.Payloads.Count == 0 && b.Loaded.IngestMetadata.IngestedCount is null)
            .Select(b => b.Loaded.Candidate)
            .ToList();

    public static IReadOnlyList<SegmentLoss> Compute(
        IReadOnlyList<BuiltSegment> built,
        IReadOnlyList<(FlushCandidate Candidate, long? Deadline)> deadlines,
        long now,
        LossSettings settings,
        FlushStats stats)
    {
        var deadlineOf = new Dictionary<FlushCandidate, long?>();
        foreach (var (candidate, deadline) in deadlines)
        {
            deadlineOf[candidate] = deadline;
        }

        var losses = new Dictionary<(long Project, SegmentLossReason Reason), long>();
        var segmentLosses = new List<SegmentLoss>();
        foreach (var (loaded, flushed, invalidPayloads) in built)
        {
            segmentLosses.Clear();
            var metadata = loaded.IngestMetadata;
            if (metadata.IngestedByteCount is { } bytes)
            {
                stats.IngestedBytesPerSegment.Add(bytes);
            }

            if (metadata.IngestedCount is { } ingested)
            {
                stats.IngestedSpansPerSegment.Add(ingested);
                var dropped = ingested - loaded.Payloads.Count;
                if (dropped > 0)
                {
                    stats.DroppedSpans += dropped;
                    segmentLosses.Add(new SegmentLoss(flushed.ProjectId, dropped, SegmentLossReason.Dropped));
                }
            }
            else if (loaded.Payloads.Count == 0
                && deadlineOf.GetValueOrDefault(loaded.Candidate) is { } deadline
                && now - deadline + settings.RootTimeoutSeconds > settings.TtlSeconds)
            {
                // Older than the TTL: its data expired. Younger means another flusher took it first.
                stats.ExpiredSegments++;
                segmentLosses.Add(new SegmentLoss(flushed.ProjectId, 1, SegmentLossReason.ExpiredBeforeFlush));
            }

            if (invalidPayloads > 0)
            {
                segmentLosses.Add(new SegmentLoss(flushed.ProjectId, invalidPayloads, SegmentLossReason.InvalidPayload));
            }

            if (segmentLosses.Count > 0)
            {
                flushed.Losses = segmentLosses.ToArray();
                foreach (var loss in segmentLosses)
                {
                    Add(losses, loss.ProjectId, loss.Reason, loss.Count);
                }
            }

            if (loaded.Payloads.Count == 0)
            {
                stats.EmptySegments++;
            }
        }

        return losses.Select(l => new SegmentLoss(l.Key.Project, l.Value, l.Key.Reason)).ToList();
    }

    private static void Add(Dictionary<(long, SegmentLossReason), long> losses, long project, SegmentLossReason reason, long count) =>
        losses[(project, reason)] = losses.GetValueOrDefault((project, reason)) + count;
}
