using Microsoft.Extensions.Logging;
using SpanBuffer.Diagnostics;
using SpanBuffer.Models;
using SpanBuffer.Redis;

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
    /// <summary>
    /// Whether a queue entry whose segment has neither data nor counters stands for data that expired before any flush
    /// (its deadline is older than the TTL): a loss, counted once by the flush that finds it (and so never removed by a
    /// repair tool, which would leave it uncounted). Younger means another flusher took the segment first.
    /// </summary>
    public static bool DataExpiredBeforeFlush(long now, long deadline, LossSettings settings) =>
        now - deadline + settings.RootTimeoutSeconds > settings.TtlSeconds;

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
                // Payloads another flusher's cleanup removed while this one loaded were delivered by that flusher.
                var dropped = loaded.Snapshot is { CleanedConcurrently: true } ? 0 : ingested - loaded.Payloads.Count;
                if (dropped > 0)
                {
                    stats.DroppedSpans += dropped;
                    segmentLosses.Add(new SegmentLoss(flushed.ProjectId, dropped, SegmentLossReason.Dropped));
                }
            }
            else if (loaded.Payloads.Count == 0
                && deadlineOf.GetValueOrDefault(loaded.Candidate) is { } deadline
                && DataExpiredBeforeFlush(now, deadline, settings))
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

        return ToList(losses);
    }

    /// <summary>
    /// The losses that became final with a cleanup: those of the segments whose data it removed. A segment another
    /// flusher cleaned first is that flusher's to report.
    /// </summary>
    public static CleanupResult Final(IReadOnlyList<SegmentCleanup> outcomes)
    {
        var losses = new Dictionary<(long Project, SegmentLossReason Reason), long>();
        var requeued = 0;
        var elsewhere = 0;
        foreach (var outcome in outcomes)
        {
            requeued += outcome.State == SegmentCleanupState.DataRemains ? 1 : 0;
            if (!outcome.RemovedItsData)
            {
                elsewhere++;
                continue;
            }

            foreach (var loss in outcome.Segment.Losses)
            {
                Add(losses, loss.ProjectId, loss.Reason, loss.Count);
            }
        }

        return new CleanupResult(outcomes.Count, requeued, elsewhere, ToList(losses));
    }

    /// <summary>Records final losses in the loss metrics, once per loss.</summary>
    public static void Publish(CleanupResult result, SpanBufferMetrics metrics, ILogger logger)
    {
        long dropped = 0, invalid = 0, expired = 0, failed = 0;
        foreach (var loss in result.Losses)
        {
            switch (loss.Reason)
            {
                case SegmentLossReason.Dropped:
                    dropped += loss.Count;
                    break;
                case SegmentLossReason.InvalidPayload:
                    invalid += loss.Count;
                    break;
                case SegmentLossReason.ExpiredBeforeFlush:
                    expired += loss.Count;
                    break;
                case SegmentLossReason.DeliveryFailed:
                    failed += loss.Count;
                    break;
            }
        }

        metrics.FlushLostSpans.Add(dropped, SpanBufferMetrics.Reason("dropped"));
        metrics.FlushLostSpans.Add(invalid, SpanBufferMetrics.Reason("invalid_payload"));
        metrics.FlushLostSpans.Add(failed, SpanBufferMetrics.Reason("delivery_failed"));
        metrics.FlushExpiredSegments.Add(expired);
        metrics.CleanupRequeuedSegments.Add(result.Requeued);
        metrics.CleanupCleanedElsewhere.Add(result.CleanedElsewhere);
        if (dropped + invalid + expired + failed > 0)
        {
            Log.LossesFinal(logger, result.Segments, dropped + invalid + failed, dropped, invalid, failed, expired);
        }
    }

    private static List<SegmentLoss> ToList(Dictionary<(long Project, SegmentLossReason Reason), long> losses) =>
        losses.Select(l => new SegmentLoss(l.Key.Project, l.Value, l.Key.Reason)).ToList();

    private static void Add(Dictionary<(long, SegmentLossReason), long> losses, long project, SegmentLossReason reason, long count) =>
        losses[(project, reason)] = losses.GetValueOrDefault((project, reason)) + count;
}
