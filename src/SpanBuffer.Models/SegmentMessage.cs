using System.Buffers;
using System.Text;

namespace SpanBuffer.Models;

/// <summary>
/// One message for the downstream consumer: <c>{"flush_id":…,"spans":[…]}</c>, plus
/// <c>"skip_enrichment":true</c> when it is a chunk of an oversized segment.
/// </summary>
public sealed class SegmentMessage
{
    private static readonly byte[] s_flushIdPrefix = "{\"flush_id\":\""u8.ToArray();
    private static readonly byte[] s_spansPrefix = "\",\"spans\":["u8.ToArray();
    private static readonly byte[] s_skipEnrichmentSuffix = "],\"skip_enrichment\":true}"u8.ToArray();
    private static readonly byte[] s_plainSuffix = "]}"u8.ToArray();
    private static readonly SearchValues<char> s_flushIdCharacters =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");

    /// <summary>
    /// Creates a message from spans a host holds, for example to test a sink or to send spans it built with
    /// <see cref="OutputSpan.FromJson(ReadOnlyMemory{byte})"/>. <see cref="FlushedSegment.ToMessages(long)"/> is the way to
    /// split a segment by size; this constructor takes the spans as they are.
    /// </summary>
    /// <param name="projectId">The project id of the segment.</param>
    /// <param name="spans">The spans, in message order (copied); at least one.</param>
    /// <param name="skipEnrichment">Whether the message is a chunk of an oversized segment (<c>"skip_enrichment":true</c>).</param>
    /// <param name="flushId">The flush id: 1 to 64 letters, digits, <c>-</c> or <c>_</c>; a fresh 32-hex id by default.</param>
    /// <exception cref="ArgumentNullException"><paramref name="spans"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="spans"/> is empty or holds a <see langword="null"/> element, or <paramref name="flushId"/> is not
    /// 1 to 64 letters, digits, <c>-</c> or <c>_</c>.
    /// </exception>
    public SegmentMessage(long projectId, IEnumerable<OutputSpan> spans, bool skipEnrichment = false, string? flushId = null)
    {
        var copied = FlushedSegment.CopySpans(spans);
        if (copied.Length == 0)
        {
            throw new ArgumentException("A message holds at least one span.", nameof(spans));
        }

        if (flushId is not null && (flushId.Length is 0 or > 64 || flushId.AsSpan().ContainsAnyExcept(s_flushIdCharacters)))
        {
            throw new ArgumentException("A flush id is 1 to 64 letters, digits, '-' or '_'.", nameof(flushId));
        }

        ProjectId = projectId;
        Spans = copied;
        SkipEnrichment = skipEnrichment;
        FlushId = flushId ?? Guid.NewGuid().ToString("N");
    }

    internal SegmentMessage(long projectId, ArraySegment<OutputSpan> spans, bool skipEnrichment)
    {
        ProjectId = projectId;
        Spans = spans;
        SkipEnrichment = skipEnrichment;
        FlushId = Guid.NewGuid().ToString("N");
    }

    /// <summary>Gets a fresh 32-hex id, so a repeated flush of the same segment is distinguishable downstream.</summary>
    public string FlushId { get; }

    /// <summary>Gets the project id of the segment.</summary>
    public long ProjectId { get; }

    /// <summary>Gets the spans in this message.</summary>
    public IReadOnlyList<OutputSpan> Spans { get; }

    /// <summary>Gets a value indicating whether this is a chunk of an oversized segment.</summary>
    public bool SkipEnrichment { get; }

    /// <summary>Gets the exact size in bytes of the message JSON written by <see cref="WriteTo"/>.</summary>
    public int Length
    {
        get
        {
            var length = s_flushIdPrefix.Length + FlushId.Length + s_spansPrefix.Length
                + (SkipEnrichment ? s_skipEnrichmentSuffix.Length : s_plainSuffix.Length);
            foreach (var span in Spans)
            {
                length += span.Json.Length;
            }

            return length + Math.Max(0, Spans.Count - 1);
        }
    }

    /// <summary>Writes the message JSON; span bytes are copied as they are, never re-serialised.</summary>
    /// <param name="writer">The destination.</param>
    /// <exception cref="ArgumentNullException"><paramref name="writer"/> is <see langword="null"/>.</exception>
    public void WriteTo(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var destination = writer.GetSpan(Length);
        var position = 0;
        Append(destination, ref position, s_flushIdPrefix);
        position += Encoding.ASCII.GetBytes(FlushId, destination[position..]);
        Append(destination, ref position, s_spansPrefix);
        for (var i = 0; i < Spans.Count; i++)
        {
            if (i > 0)
            {
                destination[position++] = (byte)',';
            }

            Append(destination, ref position, Spans[i].Json.Span);
        }

        Append(destination, ref position, SkipEnrichment ? s_skipEnrichmentSuffix : s_plainSuffix);
        writer.Advance(position);
    }

    /// <summary>Returns the message JSON as a new array.</summary>
    /// <returns>The UTF-8 JSON bytes.</returns>
    public byte[] ToArray()
    {
        var buffer = new ArrayBufferWriter<byte>(Length);
        WriteTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    private static void Append(Span<byte> destination, ref int position, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(destination[position..]);
        position += bytes.Length;
    }
}
