using System.Globalization;
using System.Text;
using SpanBuffer.Models;

namespace SpanBuffer.Benchmarks;

/// <summary>
/// A workload file replayed in passes, each pass with fresh trace ids so its spans are new to the buffer. The fresh id
/// keeps the original's first 8 hex digits (and so the shard) and its last 8, and carries the pass and the trace's
/// index in between: <c>oooooooo PPPPPPPP TTTTTTTT oooooooo</c>. Every span ever ingested is then the compact number
/// <c>pass × spans-per-pass + index in file</c>, and a delivered span's number comes back from its JSON.
/// </summary>
internal sealed class ChaosWorkload
{
    private static readonly byte[] s_traceMarker = "\"trace_id\":\""u8.ToArray();
    private static readonly System.Buffers.SearchValues<char> s_hexDigits = System.Buffers.SearchValues.Create("0123456789abcdef");

    private readonly List<Span> _spans;
    private readonly int[] _traceOf;
    private readonly int[] _traceIdOffset;
    private readonly string[] _traces;
    private readonly Dictionary<(int Trace, ulong Span), int> _indexOf;

    private ChaosWorkload(List<Span> spans, int[] traceOf, int[] traceIdOffset, string[] traces, Dictionary<(int Trace, ulong Span), int> indexOf)
    {
        _spans = spans;
        _traceOf = traceOf;
        _traceIdOffset = traceIdOffset;
        _traces = traces;
        _indexOf = indexOf;
    }

    /// <summary>Gets the number of spans in one pass (the file).</summary>
    public int SpansPerPass => _spans.Count;

    public int Traces => _traces.Length;

    public static ChaosWorkload Load(string path, int shards)
    {
        var spans = Workload.Load(path, shards);
        var traceIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var traces = new List<string>();
        var traceOf = new int[spans.Count];
        var offsets = new int[spans.Count];
        var indexOf = new Dictionary<(int, ulong), int>(spans.Count);
        for (var i = 0; i < spans.Count; i++)
        {
            var span = spans[i];
            if (span.TraceId.Length != 32 || !IsHex(span.TraceId) || span.SpanId.Length > 16 || !IsHex(span.SpanId))
            {
                throw new InvalidDataException($"span {i}: expected a 32-hex trace id and a hex span id of at most 16 digits, got '{span.TraceId}'/'{span.SpanId}'");
            }

            if (!traceIndex.TryGetValue(span.TraceId, out var trace))
            {
                trace = traces.Count;
                traceIndex.Add(span.TraceId, trace);
                traces.Add(span.TraceId);
            }

            var payload = span.Payload.Span;
            var marker = payload.IndexOf(s_traceMarker);
            if (marker < 0 || !payload.Slice(marker + s_traceMarker.Length).StartsWith(Encoding.ASCII.GetBytes(span.TraceId)))
            {
                throw new InvalidDataException($"span {i}: the payload's first trace_id is not the span's trace id");
            }

            traceOf[i] = trace;
            offsets[i] = marker + s_traceMarker.Length;
            if (!indexOf.TryAdd((trace, ParseHex(span.SpanId)), i))
            {
                throw new InvalidDataException($"span {i}: span id {span.SpanId} occurs twice in trace {span.TraceId}");
            }
        }

        return new ChaosWorkload(spans, traceOf, offsets, [.. traces], indexOf);
    }

    /// <summary>Span <paramref name="index"/> of the file as pass <paramref name="pass"/> ingests it (payload rewritten with the fresh trace id).</summary>
    public Span SpanOf(int pass, int index)
    {
        var original = _spans[index];
        var traceId = FreshTraceId(pass, _traceOf[index]);
        var payload = original.Payload.ToArray();
        Encoding.ASCII.GetBytes(traceId, payload.AsSpan(_traceIdOffset[index], 32));
        return new Span(traceId, original.SpanId, original.ParentSpanId, original.SegmentId, original.ProjectId, payload, original.IsSegmentSpan, original.Partition);
    }

    /// <summary>The number of a delivered span (from its JSON and id), or -1 when it is not one this workload produced.</summary>
    public long NumberOf(ReadOnlySpan<byte> json, string spanId)
    {
        var marker = json.IndexOf(s_traceMarker);
        if (marker < 0 || json.Length < marker + s_traceMarker.Length + 32)
        {
            return -1;
        }

        var trace = json.Slice(marker + s_traceMarker.Length, 32);
        if (!uint.TryParse(trace.Slice(8, 8), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var pass)
            || !int.TryParse(trace.Slice(16, 8), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var traceIndex)
            || traceIndex < 0 || traceIndex >= _traces.Length
            || spanId.Length > 16 || !IsHex(spanId))
        {
            return -1;
        }

        var original = _traces[traceIndex];
        for (var i = 0; i < 8; i++)
        {
            if (trace[i] != original[i] || trace[24 + i] != original[24 + i])
            {
                return -1;
            }
        }

        return _indexOf.TryGetValue((traceIndex, ParseHex(spanId)), out var index) ? (pass * (long)_spans.Count) + index : -1;
    }

    private string FreshTraceId(int pass, int trace)
    {
        var original = _traces[trace];
        return string.Create(CultureInfo.InvariantCulture, $"{original.AsSpan(0, 8)}{pass:x8}{trace:x8}{original.AsSpan(24, 8)}");
    }

    private static ulong ParseHex(string text) => ulong.Parse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

    private static bool IsHex(string text) => text.Length > 0 && text.AsSpan().IndexOfAnyExcept(s_hexDigits) < 0;
}
