using System.Text;
using SpanBuffer.Models;

namespace SpanBuffer.FaultTests.Infrastructure;

/// <summary>
/// The accounting every fault test closes: spans ingested (acknowledged by ProcessSpansAsync) = unique spans delivered
/// + spans the buffer counted as lost (FlushedSegment.Losses, by reason). What is left over is a silent loss; what is
/// over-counted is a loss reported for spans that were in fact delivered. Deliveries of the same span beyond the first
/// are duplicates, bounded per test. Thread-safe, so concurrent flushers can record into one ledger.
/// </summary>
internal sealed class SpanLedger
{
    private readonly Lock _gate = new();
    private readonly HashSet<(string Trace, string Span)> _ingested = [];
    private readonly Dictionary<(string Trace, string Span), int> _delivered = [];
    private readonly Dictionary<SegmentLossReason, long> _losses = [];

    public int Ingested { get { lock (_gate) { return _ingested.Count; } } }

    public int DeliveredUnique { get { lock (_gate) { return _delivered.Count; } } }

    /// <summary>Deliveries beyond the first of each span.</summary>
    public long Duplicates { get { lock (_gate) { return _delivered.Values.Sum(c => (long)c - 1); } } }

    /// <summary>Span losses counted by the buffer (ExpiredBeforeFlush counts segments, not spans, and is left out).</summary>
    public long CountedSpanLosses
    {
        get { lock (_gate) { return _losses.Where(l => l.Key != SegmentLossReason.ExpiredBeforeFlush).Sum(l => l.Value); } }
    }

    public long Losses(SegmentLossReason reason)
    {
        lock (_gate)
        {
            return _losses.GetValueOrDefault(reason);
        }
    }

    /// <summary>Ingested spans neither delivered nor counted.</summary>
    public long SilentLosses => Ingested - DeliveredUnique - CountedSpanLosses;

    /// <summary>Delivered spans that were also never ingested (must be zero: the buffer made something up).</summary>
    public int Unknown
    {
        get { lock (_gate) { return _delivered.Keys.Count(k => !_ingested.Contains(k)); } }
    }

    /// <summary>Records spans whose ProcessSpansAsync call completed.</summary>
    public void Ingest(IEnumerable<Span> spans)
    {
        lock (_gate)
        {
            foreach (var span in spans)
            {
                _ingested.Add((span.TraceId, span.SpanId));
            }
        }
    }

    /// <summary>Records what one flush handed off: every span of every segment, and the per-segment losses.</summary>
    public void Deliver(FlushResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        lock (_gate)
        {
            foreach (var segment in result.Segments)
            {
                var trace = SegmentKey.Parse(segment.SegmentKey).TraceId;
                foreach (var span in segment.Spans)
                {
                    var key = (trace, span.SpanId);
                    _delivered[key] = _delivered.GetValueOrDefault(key) + 1;
                }

                foreach (var loss in segment.Losses)
                {
                    _losses[loss.Reason] = _losses.GetValueOrDefault(loss.Reason) + loss.Count;
                }
            }
        }
    }

    /// <summary>ingested = delivered unique + counted losses, with no more than <paramref name="maxDuplicates"/> duplicates.</summary>
    public void AssertBalanced(long maxDuplicates = 0, bool allowCountedLosses = false)
    {
        var summary = ToString();
        TestContext.Current.SendDiagnosticMessage(summary);
        Assert.True(Unknown == 0, $"Delivered spans that were never ingested. {summary}");
        Assert.False(SilentLosses > 0, $"Silent losses: {SilentLosses} ingested spans were neither delivered nor counted. {summary}");
        Assert.False(SilentLosses < 0, $"Over-counted losses: {-SilentLosses} spans were reported lost although they were delivered. {summary}");
        if (!allowCountedLosses)
        {
            Assert.True(CountedSpanLosses == 0, $"Losses were counted although nothing was lost. {summary}");
        }

        Assert.True(Duplicates <= maxDuplicates, $"{Duplicates} duplicate deliveries, at most {maxDuplicates} allowed. {summary}");
    }

    public override string ToString()
    {
        lock (_gate)
        {
            var text = new StringBuilder()
                .Append("ingested=").Append(_ingested.Count)
                .Append(" delivered_unique=").Append(_delivered.Count)
                .Append(" duplicates=").Append(_delivered.Values.Sum(c => (long)c - 1))
                .Append(" losses={");
            text.AppendJoin(", ", _losses.OrderBy(l => l.Key).Select(l => $"{l.Key}:{l.Value}"));
            var counted = _losses.Where(l => l.Key != SegmentLossReason.ExpiredBeforeFlush).Sum(l => l.Value);
            return text.Append("} silent_losses=").Append(_ingested.Count - _delivered.Count - counted).ToString();
        }
    }
}
