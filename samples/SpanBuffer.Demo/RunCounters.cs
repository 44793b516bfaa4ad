using System.Diagnostics;

namespace SpanBuffer.Demo;

/// <summary>What the ingest side has done so far; read by the progress line and the summary (thread-safe).</summary>
internal sealed class RunCounters
{
    private readonly long _started = Stopwatch.GetTimestamp();
    private long _messagesRead;
    private long _rejected;
    private long _ingested;
    private long _batches;
    private long _ingestEnded;
    private long _drainEnded;
    private int _paused;
    private int _draining;

    public long MessagesRead => Interlocked.Read(ref _messagesRead);

    public long Rejected => Interlocked.Read(ref _rejected);

    public long Ingested => Interlocked.Read(ref _ingested);

    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Gets or sets a value indicating whether ingest is waiting for the flusher (backpressure).</summary>
    public bool Paused
    {
        get => Volatile.Read(ref _paused) == 1;
        set => Volatile.Write(ref _paused, value ? 1 : 0);
    }

    public bool Draining => Volatile.Read(ref _draining) == 1;

    /// <summary>Gets the time since the run started, to the end of input once it ended.</summary>
    public TimeSpan IngestElapsed => Elapsed(ref _ingestEnded);

    /// <summary>Gets the time since the run started, to the end of the drain once it ended.</summary>
    public TimeSpan OverallElapsed => Elapsed(ref _drainEnded);

    public void MessageRead() => Interlocked.Increment(ref _messagesRead);

    public void MessageRejected() => Interlocked.Increment(ref _rejected);

    public void BatchIngested(int spans)
    {
        Interlocked.Add(ref _ingested, spans);
        Interlocked.Increment(ref _batches);
    }

    public void InputEnded()
    {
        Interlocked.Exchange(ref _ingestEnded, Stopwatch.GetTimestamp());
        Volatile.Write(ref _draining, 1);
    }

    public void DrainEnded() => Interlocked.Exchange(ref _drainEnded, Stopwatch.GetTimestamp());

    private TimeSpan Elapsed(ref long ended)
    {
        var end = Interlocked.Read(ref ended);
        return end == 0 ? Stopwatch.GetElapsedTime(_started) : Stopwatch.GetElapsedTime(_started, end);
    }
}
