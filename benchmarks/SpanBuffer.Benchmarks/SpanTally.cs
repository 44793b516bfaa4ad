using SpanBuffer.Models;

namespace SpanBuffer.Benchmarks;

/// <summary>
/// Records every flushed span by (project, trace, span id) to prove each input span came out exactly once. Recording
/// is a list append, so the measured flush pays almost nothing for it; the counting happens in <see cref="Verify"/>.
/// </summary>
internal sealed class SpanTally(int expectedSpans)
{
    private readonly List<(long Project, string Trace, string Span)> _seen = new(expectedSpans);

    public void Add(FlushedSegment segment)
    {
        var trace = SegmentKey.Parse(segment.SegmentKey).TraceId;
        foreach (var span in segment.Spans)
        {
            _seen.Add((segment.ProjectId, trace, span.SpanId));
        }
    }

    public (bool Ok, string Message) Verify(IReadOnlyList<Span> input)
    {
        var counts = new Dictionary<(long Project, string Trace, string Span), int>(_seen.Count);
        foreach (var key in _seen)
        {
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }

        var expected = input.GroupBy(s => (s.ProjectId, s.TraceId, s.SpanId)).ToDictionary(g => g.Key, g => g.Count());
        var missing = expected.Count(e => counts.GetValueOrDefault(e.Key) < e.Value);
        var duplicated = counts.Count(c => c.Value > expected.GetValueOrDefault(c.Key));
        var ok = missing == 0 && duplicated == 0;
        return (ok, ok
            ? $"verified: all {input.Count} input spans came out exactly once"
            : $"FAILED: {missing} spans missing, {duplicated} spans duplicated or unknown");
    }
}

/// <summary>Writes messages into a reused buffer and drops them, as a sink with free delivery would.</summary>
internal static class DiscardingSink
{
    private static readonly System.Buffers.ArrayBufferWriter<byte> s_buffer = new(1 << 20);

    public static void Write(SegmentMessage message)
    {
        s_buffer.ResetWrittenCount();
        message.WriteTo(s_buffer);
    }
}
