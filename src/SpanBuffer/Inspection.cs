namespace SpanBuffer;

/// <summary>How many segments wait in one shard's queue.</summary>
/// <param name="Shard">The shard.</param>
/// <param name="Segments">Queued segments (due or not).</param>
public readonly record struct ShardQueueSize(int Shard, long Segments);

/// <summary>Memory of one Redis primary.</summary>
/// <param name="EndPoint">The node's endpoint.</param>
/// <param name="UsedBytes">Redis <c>used_memory</c>.</param>
/// <param name="AvailableBytes">Redis <c>maxmemory</c>, or the host's total memory when no limit is set.</param>
public readonly record struct RedisNodeMemory(string EndPoint, long UsedBytes, long AvailableBytes);

/// <summary>Memory of every Redis primary, and the totals the hard backpressure compares.</summary>
/// <param name="Nodes">One entry per primary.</param>
public sealed record RedisMemoryUsage(IReadOnlyList<RedisNodeMemory> Nodes)
{
    /// <summary>Gets the used bytes summed over primaries.</summary>
    public long UsedBytes => Nodes.Sum(n => n.UsedBytes);

    /// <summary>Gets the available bytes summed over primaries.</summary>
    public long AvailableBytes => Nodes.Sum(n => n.AvailableBytes);

    /// <summary>Gets used/available, or 0 when nothing is available.</summary>
    public double Ratio => AvailableBytes > 0 ? (double)UsedBytes / AvailableBytes : 0;
}
