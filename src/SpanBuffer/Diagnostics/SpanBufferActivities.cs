using System.Diagnostics;

namespace SpanBuffer.Diagnostics;

/// <summary>The library's <see cref="ActivitySource"/>: one activity per ingest batch and per flush cycle.</summary>
internal static class SpanBufferActivities
{
    public const string SourceName = "SpanBuffer";

    public static ActivitySource Source { get; } = new(SourceName, typeof(SpanBufferActivities).Assembly.GetName().Version?.ToString());
}
