namespace SpanBuffer;

/// <summary>Which queue entries an ingest call removes as stale after its scripts merged segments (reference §3.6 step 5).</summary>
public enum QueueCleanupRule
{
    /// <summary>
    /// The reference's rule and the default: unless every result of a tree was detached, the segment key of every span
    /// of the tree (<c>span-buf:s:{PT}:&lt;span id&gt;</c>, all of its chunks) leaves the queue. Also removes entries that
    /// no script of this call merged: written by another consumer or version, left by an interrupted call, or of a
    /// span in a detached chunk.
    /// </summary>
    EverySpanOfTheTree = 0,

    /// <summary>
    /// The later upstream variant (PR #118152): only the segment keys of the roots the script reports as merged leave
    /// the queue. The same queue in normal operation and cheaper (about 0.3 µs of Redis CPU and 80 bytes of client
    /// allocation per span on the benchmark workload, 4 % of ingest throughput), but the entries listed under <see cref="EverySpanOfTheTree"/>
    /// stay and later flush as empty segments, which cleanup removes.
    /// </summary>
    MergedRoots = 1,
}
