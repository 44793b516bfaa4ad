namespace SpanBuffer.Models;

/// <summary>
/// What a flush read of one segment, as cleanup needs it to remove exactly that and nothing ingested since: the
/// salts of the member index and the counters at the same instant, what each salt's payload set held, and the
/// token of the flush's lock. A segment built by a host carries none, and is cleaned up like the reference does.
/// </summary>
internal sealed class SegmentSnapshot
{
    public SegmentSnapshot(string lockToken, string[] salts, long? ingestedCount, long? ingestedBytes)
    {
        LockToken = lockToken;
        Salts = salts;
        IngestedCount = ingestedCount;
        IngestedBytes = ingestedBytes;
        SpansPerSalt = new int[salts.Length];
        BytesPerSalt = new long[salts.Length];
    }

    public string LockToken { get; }

    public string[] Salts { get; }

    public long? IngestedCount { get; }

    public long? IngestedBytes { get; }

    /// <summary>Gets the spans loaded from each salt's payload set (zero: the set was missing).</summary>
    public int[] SpansPerSalt { get; }

    /// <summary>Gets the payload bytes loaded from each salt's payload set.</summary>
    public long[] BytesPerSalt { get; }

    /// <summary>
    /// Gets or sets a value indicating whether another flusher cleaned some of this segment up while it was being
    /// loaded: its missing payloads are that cleanup's doing, not a loss.
    /// </summary>
    public bool CleanedConcurrently { get; set; }
}
