namespace SpanBuffer.Models;

/// <summary>Rules for identifiers that end up inside Redis keys.</summary>
internal static class SpanIds
{
    /// <summary>
    /// An identifier is embedded in keys such as <c>span-buf:s:{project:trace}:span</c>; braces would move
    /// the cluster hash tag, a colon would break key parsing, whitespace would break logs and tooling.
    /// </summary>
    public static void Validate(string? value, string field)
    {
        if (string.IsNullOrEmpty(value))
        {
            throw new InvalidSpanException(field, "must be a non-empty string.");
        }

        if (FindForbidden(value) is char c)
        {
            throw new InvalidSpanException(field, $"must not contain '{Describe(c)}' (braces, colons and whitespace would break Redis keys).");
        }
    }

    public static char? FindForbidden(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if (c is '{' or '}' or ':' || char.IsWhiteSpace(c) || char.IsControl(c))
            {
                return c;
            }
        }

        return null;
    }

    private static string Describe(char c) => char.IsWhiteSpace(c) || char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString();
}
