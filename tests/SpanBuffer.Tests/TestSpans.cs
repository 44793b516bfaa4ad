using System.Text;
using SpanBuffer.Models;

namespace SpanBuffer.Tests;

/// <summary>Builders for hand-made spans: ids are 16 copies of one letter, as in the reference's worked examples.</summary>
internal static class TestSpans
{
    public const string Trace = "0123456789abcdef0123456789abcdef";

    public static string Id(char c) => new(c, 16);

    /// <summary>
    /// A span <paramref name="id"/> under <paramref name="parent"/> (null: a root). Like the parser, a span without
    /// parent is a segment span; <paramref name="isSegment"/> overrides that.
    /// </summary>
    public static Span Create(
        char id,
        char? parent,
        long project = 1,
        string trace = Trace,
        char? segment = null,
        bool? isSegment = null,
        int partition = 0,
        string? payload = null)
    {
        var spanId = Id(id);
        var parentId = parent is { } p ? Id(p) : null;
        var segmentId = segment is { } s ? Id(s) : null;
        var bytes = Encoding.UTF8.GetBytes(payload ?? $"{{\"span_id\":\"{spanId}\"}}");
        return new Span(trace, spanId, parentId, segmentId, project, bytes, isSegment ?? parentId is null, partition);
    }

    public static IEnumerable<T[]> Permutations<T>(IReadOnlyList<T> items)
    {
        if (items.Count <= 1)
        {
            yield return items.ToArray();
            yield break;
        }

        for (var i = 0; i < items.Count; i++)
        {
            var rest = items.Where((_, index) => index != i).ToArray();
            foreach (var tail in Permutations(rest))
            {
                yield return [items[i], .. tail];
            }
        }
    }

    public static string Ids(IEnumerable<Span> spans) => string.Join(",", spans.Select(s => s.SpanId[0]));
}
