using System.Globalization;
using SpanBuffer.Models;

namespace SpanBuffer.Demo;

/// <summary>
/// The end-of-run report. The accounts close when every ingested span went out exactly once or was reported
/// lost: spans ingested == spans out + lost spans (Dropped + InvalidPayload). ExpiredBeforeFlush counts segments,
/// not spans, so it is reported separately and is not part of the equation.
/// </summary>
internal sealed record RunSummary
{
    public required string Input { get; init; }

    public required string Redis { get; init; }

    public required string Output { get; init; }

    public required int Shards { get; init; }

    public required int BatchSize { get; init; }

    public required string Clock { get; init; }

    public long MessagesRead { get; init; }

    public long Rejected { get; init; }

    public long Ingested { get; init; }

    public long Batches { get; init; }

    public long SpansOut { get; init; }

    public long Messages { get; init; }

    public long ChunkMessages { get; init; }

    public long Segments { get; init; }

    public long Dropped { get; init; }

    public long InvalidPayload { get; init; }

    public long ExpiredSegments { get; init; }

    public TimeSpan IngestElapsed { get; init; }

    public TimeSpan OverallElapsed { get; init; }

    /// <summary>Gets a value indicating whether the run was interrupted (the accounts are then not checked).</summary>
    public bool Interrupted { get; init; }

    public long LostSpans => Dropped + InvalidPayload;

    public bool AccountsClose => !Interrupted && Ingested == SpansOut + LostSpans;

    public static RunSummary Create(DemoOptions options, string input, string redis, RunCounters counters, FileSegmentSink sink, SpanFlusher flusher, bool interrupted) => new()
    {
        Input = input,
        Redis = redis,
        Output = sink.Path,
        Shards = options.Shards,
        BatchSize = options.BatchSize,
        Clock = options.Now is { } now ? $"pinned at {now}" : "smallest 'received' of each batch",
        MessagesRead = counters.MessagesRead,
        Rejected = counters.Rejected,
        Ingested = counters.Ingested,
        Batches = counters.Batches,
        SpansOut = sink.Spans,
        Messages = sink.Messages,
        ChunkMessages = sink.ChunkMessages,
        Segments = flusher.Statistics.SegmentsProduced,
        Dropped = sink.Lost(SegmentLossReason.Dropped),
        InvalidPayload = sink.Lost(SegmentLossReason.InvalidPayload),
        ExpiredSegments = sink.Lost(SegmentLossReason.ExpiredBeforeFlush),
        IngestElapsed = counters.IngestElapsed,
        OverallElapsed = counters.OverallElapsed,
        Interrupted = interrupted,
    };

    /// <summary>The line tests and scripts look for: <c>accounts: closed (...)</c> or <c>accounts: NOT closed (...)</c>.</summary>
    public string AccountsLine
    {
        get
        {
            if (Interrupted)
            {
                return "accounts: not checked (interrupted before the buffer was drained)";
            }

            var equation = Invariant($"spans ingested {Ingested} = spans out {SpansOut} + spans lost {LostSpans}");
            if (AccountsClose)
            {
                return $"accounts: closed ({equation})";
            }

            var difference = Ingested - SpansOut - LostSpans;
            var what = difference > 0 ? Invariant($"{difference} spans unaccounted for") : Invariant($"{-difference} spans too many (duplicates)");
            return $"accounts: NOT closed ({equation.Replace(" = ", " != ", StringComparison.Ordinal)}; {what})";
        }
    }

    public void WriteTo(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteLine(Interrupted ? "SpanBuffer demo summary (interrupted)" : "SpanBuffer demo summary");
        Row(writer, "input", Input);
        Row(writer, "redis", Redis);
        Row(writer, "shards, batch size", Invariant($"{Shards}, {BatchSize} ({Batches} batches)"));
        Row(writer, "clock", Clock);
        Row(writer, "spans read", Invariant($"{MessagesRead}"));
        Row(writer, "rejected lines", Invariant($"{Rejected} (invalid spans, dead-lettered; not ingested)"));
        Row(writer, "spans ingested", Invariant($"{Ingested}"));
        Row(writer, "spans out", Invariant($"{SpansOut}"));
        Row(writer, "segments flushed", Invariant($"{Segments} (non-empty)"));
        Row(writer, "messages", Invariant($"{Messages} ({ChunkMessages} of them chunks of oversized segments)"));
        Row(writer, "losses", Invariant($"dropped {Dropped} spans, invalid payload {InvalidPayload} spans; expired before flush {ExpiredSegments} segments"));
        Row(writer, "ingest", Rate(IngestElapsed, Ingested));
        Row(writer, "overall", Rate(OverallElapsed, Ingested) + " (ingest, flush and drain)");
        Row(writer, "output", Output);
        writer.WriteLine(AccountsLine);
    }

    private static void Row(TextWriter writer, string name, string value) => writer.WriteLine($"  {name + ":",-20}{value}");

    private static string Rate(TimeSpan elapsed, long spans) =>
        Invariant($"{elapsed.TotalSeconds:0.00} s, {spans / Math.Max(elapsed.TotalSeconds, 0.001):0} spans/s");

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
