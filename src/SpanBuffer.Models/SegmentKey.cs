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

        var parts = key.Split(':');
        string project, trace, root;
        switch (parts.Length)
        {
            case 5:
                project = parts[2];
                trace = parts[3];
                root = parts[4];
                break;
            case 6:
                project = parts[3];
                trace = parts[4];
                root = parts[5];
                break;
            default:
                return false;
        }

        project = project.StartsWith('{') ? project[1..] : project;
        trace = trace.EndsWith('}') ? trace[..^1] : trace;
        if (!long.TryParse(project, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var projectId)
            || trace.Length == 0 || root.Length == 0)
        {
            return false;
        }

        result = new SegmentKey(projectId, trace, root);
        return true;
    }

    /// <inheritdoc />
    public override string ToString() => Format();
}
