namespace SpanBuffer.Models;

/// <summary>
/// One ingested span: the identifiers the buffer groups by, plus the original message bytes, which are
/// stored and later produced unchanged (apart from the segment enrichment).
/// </summary>
public sealed class Span
{
    /// <summary>Creates a span. Identifiers are validated because they become parts of Redis keys.</summary>
    /// <param name="traceId">The trace id (normally 32 lowercase hex characters).</param>
    /// <param name="spanId">The span id (normally 16 lowercase hex characters).</param>
    /// <param name="parentSpanId">The direct parent's span id, or <see langword="null"/> for a root.</param>
    /// <param name="segmentId">A segment id the SDK already knows (<c>attributes["sentry.segment.id"]</c>), or <see langword="null"/>.</param>
    /// <param name="projectId">The project the span belongs to.</param>
    /// <param name="payload">The original message bytes (JSON).</param>
    /// <param name="isSegmentSpan">Whether the span is a segment root (a null parent or <c>is_segment: true</c>).</param>
    /// <param name="partition">The input partition the span came from; it selects the queue shard.</param>
    /// <exception cref="InvalidSpanException">An identifier is empty or contains <c>{</c>, <c>}</c>, <c>:</c> or whitespace, or the partition is negative.</exception>
    public Span(
        string traceId,
        string spanId,
        string? parentSpanId,
        string? segmentId,
        long projectId,
        ReadOnlyMemory<byte> payload,
        bool isSegmentSpan,
        int partition = 0)
    {
        SpanIds.Validate(traceId, "trace_id");
        SpanIds.Validate(spanId, "span_id");
        if (parentSpanId is not null)
        {
            SpanIds.Validate(parentSpanId, "parent_span_id");
        }

        if (segmentId is not null)
        {
            SpanIds.Validate(segmentId, "sentry.segment.id");
        }

        if (partition < 0)
        {
            throw new InvalidSpanException("partition", "must not be negative.");
        }

        TraceId = traceId;
        SpanId = spanId;
        ParentSpanId = parentSpanId;
        SegmentId = segmentId;
        ProjectId = projectId;
        Payload = payload;
        IsSegmentSpan = isSegmentSpan;
        Partition = partition;
    }

    /// <summary>Gets the trace id.</summary>
    public string TraceId { get; }

    /// <summary>Gets the span id.</summary>
    public string SpanId { get; }

    /// <summary>Gets the direct parent's span id, if any.</summary>
    public string? ParentSpanId { get; }

    /// <summary>Gets the segment id the span already carried, if any.</summary>
    public string? SegmentId { get; }

    /// <summary>Gets the project id.</summary>
    public long ProjectId { get; }

    /// <summary>Gets the original message bytes.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>Gets a value indicating whether this span is a segment root.</summary>
    public bool IsSegmentSpan { get; }

    /// <summary>Gets the input partition, which is the queue shard of the subsegment this span starts.</summary>
    public int Partition { get; }

    /// <summary>
    /// Gets the id of the group this span joins: itself when it is a segment span, else its known segment id,
    /// else its parent, else itself.
    /// </summary>
    public string EffectiveParentId =>
        IsSegmentSpan ? SpanId
        : !string.IsNullOrEmpty(SegmentId) ? SegmentId
        : !string.IsNullOrEmpty(ParentSpanId) ? ParentSpanId
        : SpanId;

    /// <summary>
    /// Returns this span with another input partition, for hosts that derive the partition from the span itself
    /// (for example from its trace id) after parsing.
    /// </summary>
    /// <param name="partition">The input partition, which selects the queue shard.</param>
    /// <returns>A span equal to this one except for its partition.</returns>
    /// <exception cref="InvalidSpanException">The partition is negative.</exception>
    public Span WithPartition(int partition) =>
        partition == Partition ? this : new Span(TraceId, SpanId, ParentSpanId, SegmentId, ProjectId, Payload, IsSegmentSpan, partition);

    /// <summary>
    /// Parses one ingest message (the JSON of a span as published by the ingest stage).
    /// </summary>
    /// <param name="message">The message bytes; they become the span's payload unchanged.</param>
    /// <param name="partition">The input partition the message came from.</param>
    /// <returns>The span.</returns>
    /// <exception cref="InvalidSpanException">The message is not valid UTF-8 or not a JSON object, a required field is missing, null or of the wrong type, a string read does not decode (an escaped lone surrogate), or an identifier would break a key. No other exception is thrown for any input.</exception>
    public static Span Parse(ReadOnlyMemory<byte> message, int partition = 0) => SpanMessageParser.Parse(message, partition);
}
