using System.Globalization;
using System.Text.Json;
using SpanBuffer.Models;

namespace SpanBuffer.Demo;

/// <summary>One accepted message: the span (with its partition) and its <c>received</c> time in whole seconds.</summary>
internal readonly record struct DecodedMessage(Span Span, long ReceivedSeconds);

/// <summary>
/// Turns an ingest message into a span the way a consumer would: <see cref="Span.Parse"/> validates it, the
/// partition comes from the trace id (<c>int(trace_id[:8], 16) % shards</c>, as gen-spans.py documents), and
/// the message's <c>received</c> timestamp stands in for the Kafka produce timestamp of the batch clock.
/// </summary>
internal sealed class MessageDecoder(int shards)
{
    /// <summary>Decodes <paramref name="message"/>, or says why it must be dead-lettered.</summary>
    public bool TryDecode(byte[] message, out DecodedMessage decoded, out string error)
    {
        decoded = default;
        Span span;
        try
        {
            span = Span.Parse(message);
        }
        catch (InvalidSpanException ex)
        {
            error = ex.Message;
            return false;
        }

        var prefix = span.TraceId.AsSpan(0, Math.Min(8, span.TraceId.Length));
        if (!uint.TryParse(prefix, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hash))
        {
            error = $"Invalid span field 'trace_id': '{span.TraceId}' does not start with hex digits, so it has no partition.";
            return false;
        }

        var partition = (int)(hash % (uint)shards);
        // The partition derives from the payload itself, so it is known only after parsing.
        span = span.WithPartition(partition);

        decoded = new DecodedMessage(span, ReadReceivedSeconds(message));
        error = string.Empty;
        return true;
    }

    /// <summary>Reads the top-level <c>received</c> number (Span.Parse checked it is there and numeric) and floors it.</summary>
    private static long ReadReceivedSeconds(byte[] message)
    {
        var reader = new Utf8JsonReader(message);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isReceived = reader.ValueTextEquals("received"u8);
            reader.Read();
            if (isReceived && reader.TokenType == JsonTokenType.Number)
            {
                return (long)Math.Floor(reader.GetDouble());
            }

            reader.Skip();
        }

        throw new InvalidOperationException("Span.Parse accepted a message without a numeric 'received' field.");
    }
}
