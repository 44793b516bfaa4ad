namespace SpanBuffer.Models;

/// <summary>
/// Thrown when an ingest message or a <see cref="Span"/> argument cannot become a span, or when
/// <see cref="OutputSpan.FromJson(ReadOnlyMemory{byte})"/> is given JSON that is not a span. It names the
/// offending field so a host can dead-letter that one message and keep ingesting the rest.
/// </summary>
public sealed class InvalidSpanException : FormatException
{
    /// <summary>Creates the exception for <paramref name="field"/>.</summary>
    /// <param name="field">The JSON field or constructor argument that was rejected.</param>
    /// <param name="message">What is wrong with it.</param>
    public InvalidSpanException(string field, string message)
        : base($"Invalid span field '{field}': {message}")
    {
        Field = field;
    }

    /// <summary>Creates the exception for <paramref name="field"/> with an underlying cause.</summary>
    /// <param name="field">The JSON field or constructor argument that was rejected.</param>
    /// <param name="message">What is wrong with it.</param>
    /// <param name="innerException">The underlying error.</param>
    public InvalidSpanException(string field, string message, Exception? innerException)
        : base($"Invalid span field '{field}': {message}", innerException)
    {
        Field = field;
    }

    /// <summary>Gets the name of the field that was rejected (e.g. <c>span_id</c>).</summary>
    public string Field { get; }
}
