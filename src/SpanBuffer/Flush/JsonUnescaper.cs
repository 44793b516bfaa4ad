using System.Text;

namespace SpanBuffer.Flush;

/// <summary>
/// Decodes the escapes of validated JSON string content to UTF-8 the way <c>Utf8JsonReader</c> does for
/// <c>GetString</c> and <c>ValueTextEquals</c>, except that an undecodable surrogate escape is reported instead of
/// thrown.
/// </summary>
internal static class JsonUnescaper
{
    /// <summary>
    /// Unescapes <paramref name="escaped"/> (string content between the quotes, escapes already validated) into
    /// <paramref name="destination"/>. Returns false when it does not fit, or when a <c>\u</c> escape is a lone
    /// surrogate: a low surrogate first, or a high one not followed by a <c>\u</c> escape of a low one.
    /// </summary>
    public static bool TryUnescape(ReadOnlySpan<byte> escaped, Span<byte> destination, out int written)
    {
        written = 0;
        while (!escaped.IsEmpty)
        {
            var backslash = escaped.IndexOf((byte)'\\');
            var plain = backslash < 0 ? escaped : escaped[..backslash];
            if (!plain.TryCopyTo(destination[written..]))
            {
                return false;
            }

            written += plain.Length;
            if (backslash < 0)
            {
                return true;
            }

            escaped = escaped[backslash..];
            int length;
            if (escaped[1] == (byte)'u')
            {
                if (!TryDecodeUnicodeEscape(escaped, out var scalar, out length)
                    || !scalar.TryEncodeToUtf8(destination[written..], out var encoded))
                {
                    return false;
                }

                written += encoded;
            }
            else
            {
                if (written >= destination.Length)
                {
                    return false;
                }

                destination[written++] = escaped[1] switch
                {
                    (byte)'b' => (byte)'\b',
                    (byte)'f' => (byte)'\f',
                    (byte)'n' => (byte)'\n',
                    (byte)'r' => (byte)'\r',
                    (byte)'t' => (byte)'\t',
                    var quoteOrSlash => quoteOrSlash,
                };
                length = 2;
            }

            escaped = escaped[length..];
        }

        return true;
    }

    private static bool TryDecodeUnicodeEscape(ReadOnlySpan<byte> escape, out Rune scalar, out int length)
    {
        scalar = default;
        length = 6;
        var unit = ParseHex4(escape[2..6]);
        if (!char.IsSurrogate((char)unit))
        {
            scalar = new Rune(unit);
            return true;
        }

        if (char.IsLowSurrogate((char)unit) || escape.Length < 12 || escape[6] != (byte)'\\' || escape[7] != (byte)'u')
        {
            return false;
        }

        var low = ParseHex4(escape[8..12]);
        if (!char.IsLowSurrogate((char)low))
        {
            return false;
        }

        scalar = new Rune((char)unit, (char)low);
        length = 12;
        return true;
    }

    private static int ParseHex4(ReadOnlySpan<byte> digits) =>
        (HexValue(digits[0]) << 12) | (HexValue(digits[1]) << 8) | (HexValue(digits[2]) << 4) | HexValue(digits[3]);

    private static int HexValue(byte digit) => digit <= '9' ? digit - '0' : (digit | 0x20) - 'a' + 10;
}
