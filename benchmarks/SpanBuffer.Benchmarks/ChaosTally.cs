using System.Collections.Concurrent;
using System.Numerics;
using SpanBuffer.Models;

namespace SpanBuffer.Benchmarks;

/// <summary>
/// What the chaos run saw, in bounded memory: one bit per span number for "ingested", "delivered" and "delivered
/// more than once", plus counters. Safe for concurrent use (the sinks of two flushers and ingest write at once).
/// </summary>
internal sealed class ChaosTally(int maxSpans)
{
    private readonly ulong[] _ingested = new ulong[(maxSpans + 63) / 64];
    private readonly ulong[] _delivered = new ulong[(maxSpans + 63) / 64];
    private readonly ulong[] _duplicated = new ulong[(maxSpans + 63) / 64];
    private long _deliveries;
    private long _unknownDeliveries;
    private long _messages;

    public int Capacity { get; } = maxSpans;

    /// <summary>Gets span deliveries counted by acknowledged messages (duplicates included).</summary>
    public long Deliveries => Interlocked.Read(ref _deliveries);

    /// <summary>Gets delivered spans that no pass of the workload produced (should be 0).</summary>
    public long UnknownDeliveries => Interlocked.Read(ref _unknownDeliveries);

    public long Messages => Interlocked.Read(ref _messages);

    /// <summary>Gets losses by reason as handed to <see cref="ISegmentSink.ReportLossesAsync"/>, every attempt counted.</summary>
    public ConcurrentDictionary<SegmentLossReason, long> ReportedLosses { get; } = new();

    /// <summary>Gets losses by reason whose flush cycle completed (its cleanup ran), so each is counted once.</summary>
    public ConcurrentDictionary<SegmentLossReason, long> ConfirmedLosses { get; } = new();

    /// <summary>Gets losses by reason that cycles reported and then failed or were aborted (they come back in a later cycle).</summary>
    public ConcurrentDictionary<SegmentLossReason, long> RetractedLosses { get; } = new();

    public ConcurrentDictionary<ChaosFault, long> Faults { get; } = new();

    /// <summary>Gets failed ingest attempts by exception type (each one was replayed).</summary>
    public ConcurrentDictionary<string, long> IngestFailures { get; } = new();

    /// <summary>Gets sink messages that failed or hung on purpose, by what happened.</summary>
    public ConcurrentDictionary<string, long> SinkFaultOutcomes { get; } = new();

    public void MarkIngested(long number) => Set(_ingested, number);

    public void MarkDelivered(long number)
    {
        Interlocked.Increment(ref _deliveries);
        if (number < 0 || number >= Capacity)
        {
            Interlocked.Increment(ref _unknownDeliveries);
            return;
        }

        if (!Set(_delivered, number))
        {
            Set(_duplicated, number);
        }
    }

    public void CountMessage() => Interlocked.Increment(ref _messages);

    public static void Add<TKey>(ConcurrentDictionary<TKey, long> counts, TKey key, long amount = 1)
        where TKey : notnull =>
        counts.AddOrUpdate(key, amount, (_, value) => value + amount);

    public ChaosSummary Summarize()
    {
        long ingested = 0, delivered = 0, duplicated = 0, deliveredNotIngested = 0;
        for (var i = 0; i < _ingested.Length; i++)
        {
            var ingestedWord = Volatile.Read(ref _ingested[i]);
            var deliveredWord = Volatile.Read(ref _delivered[i]);
            ingested += BitOperations.PopCount(ingestedWord);
            delivered += BitOperations.PopCount(deliveredWord & ingestedWord);
            deliveredNotIngested += BitOperations.PopCount(deliveredWord & ~ingestedWord);
            duplicated += BitOperations.PopCount(Volatile.Read(ref _duplicated[i]));
        }

        return new ChaosSummary(ingested, delivered, duplicated, deliveredNotIngested, Deliveries, UnknownDeliveries);
    }

    /// <summary>Counts the spans marked delivered here that <paramref name="run"/> ingested but never delivered.</summary>
    public long CountNotIn(ChaosTally run)
    {
        long count = 0;
        for (var i = 0; i < _delivered.Length && i < run._delivered.Length; i++)
        {
            count += BitOperations.PopCount(_delivered[i] & run._ingested[i] & ~run._delivered[i]);
        }

        return count;
    }

    /// <summary>Sets the bit; returns whether it was clear before.</summary>
    private static bool Set(ulong[] bits, long number)
    {
        var mask = 1UL << (int)(number & 63);
        return (Interlocked.Or(ref bits[number >> 6], mask) & mask) == 0;
    }
}

/// <summary>The span figures at the end of a run.</summary>
/// <param name="Ingested">Unique spans whose ingest batch succeeded.</param>
/// <param name="DeliveredUnique">Unique ingested spans that reached the sink in an acknowledged message.</param>
/// <param name="SpansDuplicated">Unique spans delivered more than once.</param>
/// <param name="DeliveredNotIngested">Unique spans delivered whose batch never succeeded (should be 0).</param>
/// <param name="Deliveries">Span deliveries, duplicates included.</param>
/// <param name="Unknown">Delivered spans no pass produced (should be 0).</param>
internal sealed record ChaosSummary(long Ingested, long DeliveredUnique, long SpansDuplicated, long DeliveredNotIngested, long Deliveries, long Unknown)
{
    /// <summary>Gets deliveries beyond the first of each span.</summary>
    public long Duplicates => Deliveries - Unknown - DeliveredUnique - DeliveredNotIngested;
}
