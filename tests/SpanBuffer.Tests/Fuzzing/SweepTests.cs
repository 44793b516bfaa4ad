using System.Buffers;
using System.Text;
using System.Text.Unicode;
using SpanBuffer.Models;

namespace SpanBuffer.Tests.Fuzzing;

/// <summary>
/// Exhaustive single edits of a few valid messages, every position: truncations, a byte that is never UTF-8, and
/// every single-bit flip, through Span.Parse and through a segment build.
/// </summary>
public sealed class SweepTests
{
    /// <summary>A few messages: compact, with a segment id, with whitespace and non-ASCII text and escapes.</summary>
    private static readonly byte[][] s_messages =
    [
        .. Enumerable.Range(0, 3).Select(i => Encoding.UTF8.GetBytes(SpanMessages.Create(new Random(i)).Trim())),
        Encoding.UTF8.GetBytes(
            "{\"trace_id\": \"0123456789abcdef0123456789abcdef\", \"span_id\": \"aaaaaaaaaaaaaaaa\", \"parent_span_id\": \"bbbbbbbbbbbbbbbb\","
            + " \"project_id\": 1, \"organization_id\": 1, \"retention_days\": 90, \"received\": 1.5, \"start_timestamp\": 1, \"end_timestamp\": 2,"
            + " \"status\": \"caf\\u00e9 日本 😀\", \"is_segment\": false, \"attributes\": {\"sentry.segment.id\": {\"type\": \"string\", \"value\": \"aaaaaaaaaaaaaaaa\"}}}"),
    ];

    public static TheoryData<int> Messages => new(Enumerable.Range(0, s_messages.Length));

    [Theory]
    [MemberData(nameof(Messages))]
    public void Parse_EveryTruncation_ThrowsInvalidSpanException(int index)
    {
        var message = s_messages[index];
        Assert.NotNull(Span.Parse(message));
        for (var length = 0; length < message.Length; length++)
        {
            var prefix = message[..length];
            var ex = Record.Exception(() => Span.Parse(prefix));
            Assert.True(ex is InvalidSpanException, $"message {index} cut to {length} bytes: {ex?.GetType().Name ?? "accepted"}");
        }
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Parse_ANonUtf8ByteAtEveryPosition_ThrowsNamingItsOffset(int index)
    {
        var message = s_messages[index];
        foreach (var bad in new byte[] { 0x80, 0xC0, 0xFF })
        {
            for (var at = 0; at < message.Length; at++)
            {
                // Even positions: the byte there replaced; odd ones: the bad byte inserted there.
                byte[] edited = (at & 1) == 0 ? [.. message[..at], bad, .. message[(at + 1)..]] : [.. message[..at], bad, .. message[at..]];

                // A bad byte can complete or extend a sequence it lands in (0x80 after a lead byte), so the message may
                // still be valid; when it is not, the first bad sequence is where the UTF-8 decoder finds it.
                if (Utf8.ToUtf16(edited, new char[edited.Length], out var firstInvalid, out _, replaceInvalidSequences: false) == OperationStatus.Done)
                {
                    Assert.NotNull(Span.Parse(edited));
                    continue;
                }

                var ex = Record.Exception(() => Span.Parse(edited));
                if (ex is not InvalidSpanException { Field: "$" } invalid || !invalid.Message.Contains("UTF-8", StringComparison.Ordinal))
                {
                    throw new Xunit.Sdk.XunitException($"message {index}, 0x{bad:X2} at {at}: {ex?.GetType().Name ?? "accepted"} {ex?.Message}");
                }

                Assert.True(OffsetIn(invalid.Message) == firstInvalid, $"message {index}, 0x{bad:X2} at {at}, first invalid at {firstInvalid}: {invalid.Message}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Parse_EveryBitFlip_ReturnsASaneSpanOrThrowsInvalidSpanException(int index)
    {
        var message = s_messages[index];
        for (var bit = 0; bit < message.Length * 8; bit++)
        {
            var flipped = (byte[])message.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            Span? span = null;
            var ex = Record.Exception(() => span = Span.Parse(flipped));
            if (ex is null)
            {
                SpanParseFuzzTests.AssertSane(span!, flipped, $"message {index}, bit {bit} flipped");
            }
            else
            {
                Assert.True(ex is InvalidSpanException, $"message {index}, bit {bit} flipped: {ex}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void BuildOne_EveryTruncationAndBitFlip_IsAValidSpanOrCountedInvalid(int index)
    {
        var message = s_messages[index];
        var payloads = new List<byte[]>();
        for (var length = 0; length <= message.Length; length++)
        {
            payloads.Add(message[..length]);
        }

        for (var bit = 0; bit < message.Length * 8; bit++)
        {
            var flipped = (byte[])message.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            payloads.Add(flipped);
        }

        var (built, _) = SegmentBuildFuzzTests.AssertBuildsEveryPayload(payloads, "aaaaaaaaaaaaaaaa", "0123456789abcdef0123456789abcdef", $"message {index} sweep");

        Assert.InRange(built.Flushed.Spans.Count, 1, payloads.Count - message.Length);
    }

    private static int? OffsetIn(string message)
    {
        var marker = message.IndexOf("offset ", StringComparison.Ordinal);
        if (marker < 0)
        {
            return null;
        }

        var digits = new string(message[(marker + 7)..].TakeWhile(char.IsAsciiDigit).ToArray());
        return int.Parse(digits, System.Globalization.CultureInfo.InvariantCulture);
    }
}
