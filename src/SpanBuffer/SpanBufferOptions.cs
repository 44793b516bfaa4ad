using System.ComponentModel.DataAnnotations;

namespace SpanBuffer;

/// <summary>
/// Settings of the span buffer. Every <c>spans.buffer.*</c> option of the reference implementation that
/// applies to a library is here, with the same default. Options are read once per call, so changes made
/// through <c>IOptionsMonitor</c> apply to the next ingest or flush.
/// </summary>
public sealed class SpanBufferOptions
{
    /// <summary>The configuration section <c>AddSpanBuffer</c> binds by default.</summary>
    public const string SectionName = "SpanBuffer";

    /// <summary>Creates options with every default.</summary>
    public SpanBufferOptions()
    {
    }

    /// <summary>
    /// Creates a copy of <paramref name="other"/> (its shard list copied too), for a host that builds a second buffer
    /// with a few settings changed: <c>new SpanBufferOptions(current) { SliceId = 3 }</c>.
    /// </summary>
    /// <param name="other">The options to copy.</param>
    /// <exception cref="ArgumentNullException"><paramref name="other"/> is <see langword="null"/>.</exception>
    public SpanBufferOptions(SpanBufferOptions other)
    {
        ArgumentNullException.ThrowIfNull(other);
        Timeout = other.Timeout;
        RootTimeout = other.RootTimeout;
        RedisTtl = other.RedisTtl;
        SegmentPageSize = other.SegmentPageSize;
        MaxSegmentBytes = other.MaxSegmentBytes;
        MaxFlushSegments = other.MaxFlushSegments;
        MaxMemoryRatio = other.MaxMemoryRatio;
        BackpressureTime = other.BackpressureTime;
        MaxUnhealthyTime = other.MaxUnhealthyTime;
        FlushLockTtl = other.FlushLockTtl;
        CompressionLevel = other.CompressionLevel;
        PipelineBatchSize = other.PipelineBatchSize;
        MaxSpansPerScriptCall = other.MaxSpansPerScriptCall;
        KeyPrefix = other.KeyPrefix;
        SliceId = other.SliceId;
        ConnectionString = other.ConnectionString;
        FlushInterval = other.FlushInterval;
        MaxDeliveryAttempts = other.MaxDeliveryAttempts;
        LogFlushedSegments = other.LogFlushedSegments;
        QueueCleanup = other.QueueCleanup;
        AssignedShards = other.AssignedShards is null ? null : [.. other.AssignedShards];
    }

    /// <summary>
    /// Gets or sets how long a segment without a root span waits for more spans before it is flushed
    /// (<c>spans.buffer.timeout</c>). Whole seconds.
    /// </summary>
    /// <value>The default value is 60 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Gets or sets how long a segment that has its root span waits for more spans before it is flushed
    /// (<c>spans.buffer.root-timeout</c>). Whole seconds; also used in the expiry estimate.
    /// </summary>
    /// <value>The default value is 10 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan RootTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets or sets the TTL of every key the buffer writes (<c>spans.buffer.redis-ttl</c>). Whole seconds.</summary>
    /// <value>The default value is 3600 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan RedisTtl { get; set; } = TimeSpan.FromSeconds(3600);

    /// <summary>Gets or sets the <c>SSCAN COUNT</c> used when loading payload sets (<c>spans.buffer.segment-page-size</c>).</summary>
    /// <value>The default value is 100.</value>
    [Range(1, 1_000_000)]
    public int SegmentPageSize { get; set; } = 100;

    /// <summary>
    /// Gets or sets the segment size limit in raw payload bytes (<c>spans.buffer.max-segment-bytes</c>): at ingest,
    /// a subsegment that would push a segment past it becomes its own detached segment; at flush, a larger
    /// segment is split into chunked messages. 0 disables the ingest limit.
    /// </summary>
    /// <value>The default value is 10 MiB (10485760).</value>
    [Range(0, long.MaxValue)]
    public long MaxSegmentBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>
    /// Gets or sets the most segments one flush takes, divided over the assigned shards (rounded up)
    /// (<c>spans.buffer.max-flush-segments</c>).
    /// </summary>
    /// <value>The default value is 500.</value>
    [Range(1, 1_000_000)]
    public int MaxFlushSegments { get; set; } = 500;

    /// <summary>
    /// Gets or sets the Redis used/available memory ratio above which ingest should pause (hard backpressure)
    /// (<c>spans.buffer.max-memory-percentage</c>). 1.0 disables the check.
    /// </summary>
    /// <value>The default value is 1.0.</value>
    [Range(0.0, 1.0)]
    public double MaxMemoryRatio { get; set; } = 1.0;

    /// <summary>
    /// Gets or sets how long flushing must stay at its per-shard limit before ingest should pause (soft backpressure)
    /// (<c>spans.buffer.flusher.backpressure-seconds</c>).
    /// </summary>
    /// <value>The default value is 10 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan BackpressureTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Gets or sets the heartbeat age after which the flusher reports itself unhealthy
    /// (<c>spans.buffer.flusher.max-unhealthy-seconds</c>).
    /// </summary>
    /// <value>The default value is 60 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan MaxUnhealthyTime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Gets or sets the TTL of per-segment flush locks (<c>spans.buffer.flusher.flush-lock-ttl</c>). Zero disables
    /// locking; with locks, spans that arrive for a segment being flushed go to a new detached segment. Whole seconds.
    /// </summary>
    /// <value>The default value is zero (no locks).</value>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan FlushLockTtl { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// Gets or sets the zstd level for payload batches (<c>spans.buffer.compression.level</c>); 0 is zstd's default
    /// level, -1 stores raw payloads.
    /// </summary>
    /// <value>The default value is 0.</value>
    [Range(-1, 22)]
    public int CompressionLevel { get; set; }

    /// <summary>Gets or sets how many subsegments go into one Redis pipeline; 0 means one pipeline (<c>spans.buffer.pipeline-batch-size</c>).</summary>
    /// <value>The default value is 0.</value>
    [Range(0, int.MaxValue)]
    public int PipelineBatchSize { get; set; }

    /// <summary>Gets or sets the most spans per ingest script call; larger trees are chunked; 0 means unlimited (<c>spans.buffer.max-spans-per-evalsha</c>).</summary>
    /// <value>The default value is 0.</value>
    [Range(0, int.MaxValue)]
    public int MaxSpansPerScriptCall { get; set; }

    /// <summary>
    /// Gets or sets the prefix of every Redis key. Keep the reference's <c>span-buf</c> to share a Redis with it; use
    /// another to partition one Redis between buffers. Letters, digits, <c>-</c>, <c>_</c> and <c>.</c> only.
    /// </summary>
    /// <value>The default value is <c>span-buf</c>.</value>
    [Required]
    [RegularExpression("^[A-Za-z0-9_.-]{1,64}$")]
    public string KeyPrefix { get; set; } = "span-buf";

    /// <summary>
    /// Gets or sets the queue shards (input partitions) this instance flushes. <see langword="null"/> means shard 0;
    /// an empty list means no shard at all (a consumer left without partitions after a rebalance): flushes read no
    /// queue and return nothing, and ingest is unaffected (each span's queue comes from its own partition).
    /// </summary>
    /// <remarks>
    /// The default is <see langword="null"/> rather than <c>[0]</c> because configuration binding adds the configured
    /// items to a list it finds: a default of <c>[0]</c> would turn a configured <c>[2, 5]</c> into <c>[0, 2, 5]</c>.
    /// Configuration cannot express an empty list, so assign no shard in code (or with
    /// <see cref="SpansBuffer.AssignShards(IEnumerable{int})"/>). A running buffer picks up a change at its next flush.
    /// </remarks>
    /// <value>The default value is <see langword="null"/> (shard 0).</value>
    public IList<int>? AssignedShards { get; set; }

    /// <summary>Gets or sets an optional slice id that namespaces the queue keys (<c>span-buf:q:&lt;slice&gt;-&lt;shard&gt;</c>).</summary>
    /// <value>The default value is <see langword="null"/> (no slice).</value>
    [Range(0, int.MaxValue)]
    public int? SliceId { get; set; }

    /// <summary>
    /// Gets or sets the Redis connection string <c>AddSpanBuffer</c> connects with when no
    /// <c>IConnectionMultiplexer</c> is registered. Not used by the plain constructor, which takes a connection.
    /// </summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public string? ConnectionString { get; set; }

    /// <summary>Gets or sets how long the flusher waits after a cycle that found nothing to flush.</summary>
    /// <value>The default value is 1 second.</value>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Gets or sets how many consecutive cycles in a row the flusher tries to deliver a segment before it gives up on
    /// it. A segment whose delivery failed stays in Redis and is retried by the next cycle; after this many failed
    /// attempts it is handed to <see cref="ISegmentSink.DeadLetterAsync"/> and cleaned either way, so one poison
    /// segment cannot hold up the rest. A segment the sink does not take is counted as lost
    /// (<see cref="Models.SegmentLossReason.DeliveryFailed"/>). Attempts are counted in memory, per flusher.
    /// </summary>
    /// <value>The default value is 5.</value>
    [Range(1, 1000)]
    public int MaxDeliveryAttempts { get; set; } = 5;

    /// <summary>
    /// Gets or sets which queue entries an ingest call removes after its scripts merged segments: the reference's rule
    /// (the span key of every span of each tree) or the cheaper upstream variant (only the merged roots).
    /// </summary>
    /// <value>The default value is <see cref="QueueCleanupRule.EverySpanOfTheTree"/>.</value>
    [EnumDataType(typeof(QueueCleanupRule))]
    public QueueCleanupRule QueueCleanup { get; set; }

    /// <summary>
    /// Gets or sets whether every flush logs each segment it flushed (segment key, queue, span count, project) as a
    /// <c>SegmentFlushed</c> event at information level: for an investigation, not for normal operation (one line
    /// per segment). Read once per flush.
    /// </summary>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool LogFlushedSegments { get; set; }

    /// <summary>Gets the shards to flush: <see cref="AssignedShards"/>, or shard 0 when it is not set.</summary>
    internal IReadOnlyList<int> FlushShards => AssignedShards is null ? DefaultShards : [.. AssignedShards];

    private static readonly int[] DefaultShards = [0];

    /// <summary>A copy, so a buffer built from options is not changed behind its back (and past validation).</summary>
    internal SpanBufferOptions Clone() => new(this);
}
