using SpanBuffer.Models;

namespace SpanBuffer.Benchmarks;

/// <summary>Counts every flushed span by (project, trace, span id) to prove each input span came out exactly once.</summary>
internal sealed class SpanTally
{
    private readonly Dictionary<(long Project, string Trace, string Span), int> _counts = [];

    public void Add(FlushedSegment segment)
    {
        var trace = SegmentKey.Parse(segment.SegmentKey).TraceId;
        foreach (var span in segment.Spans)
        {
            var key = (segment.ProjectId, trace, span.SpanId);
            _counts[key] = _counts.GetValueOrDefault(key) + 1;
        }
    }

    public (bool Ok, string Message) Verify(IReadOnlyList<Span> input)
    {
        var expected = input.GroupBy(s => (s.ProjectId, s.TraceId, s.SpanId)).ToDictionary(g => g.Key, g => g.Count());
        var missing = expected.Count(e => _counts.GetValueOrDefault(e.Key) < e.Value);
        var duplicated = _counts.Count(c => c.Value > expected.GetValueOrDefault(c.Key));
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
