namespace SpanBuffer.Models;

/// <summary>
/// The identity of a segment: <c>{prefix}:s:{{project}:{trace}}:{root}</c>, where the root is the segment
/// span's id or, for a detached segment, a 32-hex salt. The key is a queue member and the suffix of the
/// segment's metadata keys; it is never a stored key itself.
/// </summary>
/// <param name="ProjectId">The project id.</param>
/// <param name="TraceId">The trace id.</param>
/// <param name="RootId">The segment root: a span id or a salt.</param>
public readonly record struct SegmentKey(long ProjectId, string TraceId, string RootId)
{
    /// <summary>The key prefix of the reference implementation.</summary>
    public const string DefaultPrefix = "span-buf";

    /// <summary>Formats the key with the given prefix.</summary>
    /// <param name="prefix">The key prefix (default <c>span-buf</c>).</param>
    /// <returns>The segment key string.</returns>
    public string Format(string prefix = DefaultPrefix) =>
        string.Concat(prefix, ":s:{", ProjectId.ToString(System.Globalization.CultureInfo.InvariantCulture), ":", TraceId, "}:", RootId);

    /// <summary>
    /// Parses a segment key. Five colon-separated parts are the current form; six parts are the legacy form
    /// with the partition in position 2 (<c>span-buf:s:&lt;partition&gt;:{project:trace}:root</c> style).
    /// </summary>
    /// <param name="key">The key to parse.</param>
    /// <returns>The parsed key.</returns>
    /// <exception cref="FormatException">The key has neither form.</exception>
    public static SegmentKey Parse(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!TryParse(key, out var result))
        {
            throw new FormatException($"Not a segment key: '{key}'. Expected '<prefix>:s:{{<project>:<trace>}}:<root>'.");
        }

        return result;
    }

    /// <summary>Tries to parse a segment key; see <see cref="Parse(string)"/>.</summary>
    /// <param name="key">The key to parse.</param>
    /// <param name="result">The parsed key when successful.</param>
    /// <returns><see langword="true"/> when the key has the current or the legacy form.</returns>
    public static bool TryParse(string? key, out SegmentKey result)
    {
        result = default;
        if (key is null)
        {
            return false;
        }

        // Colon positions without splitting: keys are parsed several times per flushed segment.
        Span<int> colons = stackalloc int[5];
        var count = 0;
        for (var position = key.IndexOf(':'); position >= 0; position = key.IndexOf(':', position + 1))
        {
            if (count == colons.Length)
            {
                return false;
            }

            colons[count++] = position;
        }

        // Five parts: prefix, "s", "{project", "trace}", root. Six: the legacy form with the partition third.
        if (count is not (4 or 5))
        {
            return false;
        }

        var first = count - 3;
        var span = key.AsSpan();
        var project = span[(colons[first] + 1)..colons[first + 1]];
        var trace = span[(colons[first + 1] + 1)..colons[first + 2]];
        var root = span[(colons[first + 2] + 1)..];
        project = project.StartsWith('{') ? project[1..] : project;
        trace = trace.EndsWith('}') ? trace[..^1] : trace;
        if (!long.TryParse(project, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var projectId)
            || trace.IsEmpty || root.IsEmpty)
        {
            return false;
        }

        result = new SegmentKey(projectId, trace.ToString(), root.ToString());
        return true;
    }

    /// <inheritdoc />
    public override string ToString() => Format();
}
