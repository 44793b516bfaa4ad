using Microsoft.Extensions.Logging;
using SpanBuffer.Diagnostics;

namespace SpanBuffer.Ingest;

/// <summary>What one ingest call did; filled in by the steps and published once at the end.</summary>
internal sealed class IngestStats
{
    public int Spans { get; set; }

    public int RootSpans { get; set; }

    public int Trees { get; set; }

    public int ScriptCalls { get; set; }

    public int DetachedTooLarge { get; set; }

    public int DetachedLocked { get; set; }

    public int MergedSegments { get; set; }

    public int ReplayedSubsegments { get; set; }

    public int RerunTraces { get; set; }

    public long UncompressedBytes { get; set; }

    public long CompressedBytes { get; set; }

    /// <summary>Gets or sets the time to write payloads and run the scripts (overlapped, so one figure).</summary>
    public TimeSpan InsertSpans { get; set; }

    public TimeSpan UpdateQueue { get; set; }

    public TimeSpan Total { get; set; }

    public Exception? Error { get; set; }

    public void Publish(SpanBufferMetrics metrics, ILogger logger)
    {
        metrics.IngestDuration.Record(Total.TotalSeconds, SpanBufferMetrics.ErrorType(Error));
        metrics.IngestDuration.Record(InsertSpans.TotalSeconds, SpanBufferMetrics.Stage("insert_spans"));
        metrics.IngestDuration.Record(UpdateQueue.TotalSeconds, SpanBufferMetrics.Stage("update_queue"));
        if (Error is not null)
        {
            return;
        }

        metrics.IngestSpans.Add(Spans);
        metrics.IngestBatchSpans.Record(Spans);
        metrics.IngestBatchRootSpans.Record(RootSpans);
        metrics.IngestBatchTrees.Record(Trees);
        metrics.IngestBatchScriptCalls.Record(ScriptCalls);
        metrics.IngestDetachedSegments.Add(DetachedTooLarge, SpanBufferMetrics.Reason("too_large"));
        metrics.IngestDetachedSegments.Add(DetachedLocked, SpanBufferMetrics.Reason("flush_locked"));
        metrics.IngestMergedSegments.Add(MergedSegments);
        metrics.IngestReplayedSubsegments.Add(ReplayedSubsegments);
        metrics.IngestScriptReruns.Add(RerunTraces);
        if (CompressedBytes > 0)
        {
            metrics.IngestPayloadBytes.Add(UncompressedBytes, new KeyValuePair<string, object?>("form", "original"));
            metrics.IngestPayloadBytes.Add(CompressedBytes, new KeyValuePair<string, object?>("form", "stored"));
        }

        Log.IngestCompleted(logger, Spans, ScriptCalls, DetachedTooLarge + DetachedLocked, MergedSegments, Total.TotalMilliseconds);
    }
}
