using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SpanBuffer.Diagnostics;
using SpanBuffer.Flush;
using SpanBuffer.Ingest;
using SpanBuffer.Models;
using SpanBuffer.Redis;
using StackExchange.Redis;

namespace SpanBuffer;

/// <summary>
/// The span buffer: ingests spans into segments in Redis, flushes segments whose deadline passed, and cleans
/// up what the host has handed off. Time is an explicit argument (integer Unix seconds) everywhere.
/// Thread-safe; one instance per process is enough.
/// </summary>
public sealed partial class SpansBuffer : IDisposable
{
    private readonly IConnectionMultiplexer _redis;
    private readonly IOptionsMonitor<SpanBufferOptions> _options;
    private readonly ILogger _logger;
    private readonly SpanBufferMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly PayloadArena.Pool _arenas = new();
    private readonly IngestSequencer _ingestOrder = new();
    private volatile int[]? _assignedShards;
    private int[]? _lastFlushedShards;

    /// <summary>Creates a buffer from fixed options (no dependency injection needed).</summary>
    /// <param name="redis">The connection to use; the caller keeps ownership.</param>
    /// <param name="options">The options; copied and validated now (later changes to the object have no effect).</param>
    /// <param name="loggerFactory">Where logs go; none by default.</param>
    /// <param name="meterFactory">Where metrics go; a private meter by default.</param>
    /// <param name="timeProvider">Measures latencies; the system clock by default.</param>
    /// <exception cref="OptionsValidationException">An option is invalid; the message names it.</exception>
    public SpansBuffer(
        IConnectionMultiplexer redis,
        SpanBufferOptions options,
        ILoggerFactory? loggerFactory = null,
        IMeterFactory? meterFactory = null,
        TimeProvider? timeProvider = null)
        : this(redis, new FixedOptionsMonitor(Validated(options)), loggerFactory, meterFactory, timeProvider)
    {
    }

    /// <summary>Creates a buffer that reads its options once per call, so changes apply without a restart (the DI path).</summary>
    internal SpansBuffer(
        IConnectionMultiplexer redis,
        IOptionsMonitor<SpanBufferOptions> options,
        ILoggerFactory? loggerFactory,
        IMeterFactory? meterFactory,
        TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(redis);
        ArgumentNullException.ThrowIfNull(options);
        _redis = redis;
        _options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger(typeof(SpansBuffer).FullName!);
        _metrics = new SpanBufferMetrics(meterFactory);
        _time = timeProvider ?? TimeProvider.System;
    }

    internal SpanBufferOptions CurrentOptions => _options.CurrentValue;


    internal SpanBufferMetrics Metrics => _metrics;

    internal TimeProvider Time => _time;

    internal ILogger Logger => _logger;

    /// <summary>
    /// Ingests a batch of spans: groups them by parent, stores their payloads, merges them into their segments and
    /// moves each touched segment's flush deadline to <paramref name="now"/> plus the (root) timeout.
    /// Safe to repeat: a replayed batch writes the same payload keys.
    /// </summary>
    /// <remarks>
    /// Calls may overlap (a host can prepare and send the next batch while the previous one is being answered, which
    /// keeps Redis busy): overlapping calls apply their merges and queue updates in the order they were started, as if
    /// they had run one after another.
    /// </remarks>
    /// <param name="spans">The batch, in arrival order. An empty batch does nothing.</param>
    /// <param name="now">The ingest clock in integer Unix seconds (normally the smallest message timestamp of the batch).</param>
    /// <param name="cancellationToken">Stops waiting; commands already sent may still run (every write is idempotent).</param>
    /// <returns>A task that completes when Redis has applied the batch.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="spans"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The batch contains a null element.</exception>
    /// <exception cref="RedisException">
    /// Redis failed a command (connection lost, timeout, out of memory): some of the batch may be stored; ingest the
    /// same batch again, which writes nothing twice.
    /// </exception>
    /// <exception cref="RedisTimeoutException">Redis did not answer in time; as for <see cref="RedisException"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task ProcessSpansAsync(IReadOnlyList<Span> spans, long now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spans);
        cancellationToken.ThrowIfCancellationRequested();
        if (spans.Count == 0)
        {
            return;
        }

        for (var i = 0; i < spans.Count; i++)
        {
            if (spans[i] is null)
            {
                throw new ArgumentException($"The batch holds no span at index {i}.", nameof(spans));
            }
        }

        var options = _options.CurrentValue;
        var store = CreateStore(options);
        var stats = new IngestStats { Spans = spans.Count };
        using var activity = SpanBufferActivities.Source.StartActivity("spanbuffer.ingest");
        activity?.SetTag("spanbuffer.spans", spans.Count);
        var started = _time.GetTimestamp();
        using var turn = _ingestOrder.Enter();
        try
        {
            var trees = SpanGrouper.GroupByParent(spans);
            var subsegments = Subsegment.Build(trees, options.MaxSpansPerScriptCall);
            var groups = subsegments.Chunk(options.PipelineBatchSize > 0 ? options.PipelineBatchSize : Math.Max(1, subsegments.Count)).ToList();
            stats.Trees = trees.Count;
            stats.ScriptCalls = subsegments.Count;
            stats.RootSpans = spans.Count(s => s.IsSegmentSpan);

            // Payloads go before the scripts that list them in a member index, so a flush never finds a listed
            // payload unwritten (it would count it lost, and its cleanup would orphan it). On a single server the
            // connection keeps that order; on a cluster the payloads live on other nodes, so their replies are awaited.
            var phase = _time.GetTimestamp();
            var scriptSettings = new AddBufferSettings(options.KeyPrefix, Seconds(options.RedisTtl), options.MaxSegmentBytes, CheckFlushLock: true);
            var inserted = new List<InsertedSubsegment>(subsegments.Count);
            var rerun = new HashSet<string>(StringComparer.Ordinal);
            var arena = _arenas.Rent();
            var awaitPayloads = !store.IsSingleServer;
            for (var i = 0; i < groups.Count; i++)
            {
                var group = groups[i];
                var stored = new List<Task>();
                Action<int, int>? beforeSlice = null;
                if (awaitPayloads)
                {
                    await store.StorePayloadsAsync(group, options.CompressionLevel, options.RedisTtl, stats, arena).WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    beforeSlice = (start, count) => stored.Add(store.StorePayloadsAsync(new ArraySegment<Subsegment>(group, start, count), options.CompressionLevel, options.RedisTtl, stats, arena));
                }

                if (i == 0)
                {
                    await turn.WaitToSendScriptsAsync(cancellationToken).ConfigureAwait(false);
                }

                var inserting = store.InsertSubsegmentsAsync(group, scriptSettings, i == 0 ? turn.PreviousScriptsSettled : null, beforeSlice);
                if (i == groups.Count - 1)
                {
                    turn.ScriptsSent();
                }

                await Task.WhenAll(stored.Append(inserting)).WaitAsync(cancellationToken).ConfigureAwait(false);
                var (groupInserted, groupRerun) = await inserting.ConfigureAwait(false);
                inserted.AddRange(groupInserted);
                rerun.UnionWith(groupRerun);
            }

            turn.ScriptsSettled(rerun);
            stats.RerunTraces = rerun.Count;

            // Only now: every payload write was answered. After a failure the frames are left to the GC.
            _arenas.Return(arena);

            stats.InsertSpans = _time.GetElapsedTime(phase);
            foreach (var (_, result) in inserted)
            {
                stats.DetachedTooLarge += result.DetachReason == DetachReason.TooLarge ? 1 : 0;
                stats.DetachedLocked += result.DetachReason == DetachReason.FlushLocked ? 1 : 0;
                stats.MergedSegments += result.MergedRoots.Count;
                stats.ReplayedSubsegments += result.Replayed ? 1 : 0;
            }

            phase = _time.GetTimestamp();
            var queueSettings = new QueueSettings(Seconds(options.Timeout), Seconds(options.RootTimeout), Seconds(options.RedisTtl), options.SliceId, options.QueueCleanup);
            await turn.WaitToUpdateQueueAsync(cancellationToken).ConfigureAwait(false);
            var updating = store.UpdateQueueAsync(inserted, now, queueSettings);
            turn.QueueUpdateSent();
            await updating.WaitAsync(cancellationToken).ConfigureAwait(false);
            stats.UpdateQueue = _time.GetElapsedTime(phase);
        }
        catch (Exception ex)
        {
            stats.Error = ex;
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            throw;
        }
        finally
        {
            stats.Total = _time.GetElapsedTime(started);
            stats.Publish(_metrics, _logger);
        }
    }

    /// <summary>
    /// Removes what was flushed and handed off, and nothing that arrived since: spans ingested into a segment while it
    /// was being flushed stay queued for a later flush. Releases the flush locks. Call it only after the host
    /// confirmed delivery, with the segments that were delivered (a subset of a flush is fine).
    /// </summary>
    /// <param name="segments">The delivered segments from <see cref="FlushSegmentsAsync"/>, empty ones included.</param>
    /// <param name="cancellationToken">Stops waiting; commands already sent may still run.</param>
    /// <returns>What was cleaned, and the losses of the cleaned segments (final: report these).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="segments"/> is <see langword="null"/>.</exception>
    /// <exception cref="FormatException">A segment's key is not a segment key (only for one built with its constructor).</exception>
    /// <exception cref="RedisException">Redis failed a cleanup command; what failed stays and is delivered again.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    // RS0027 guards against overloads that differ only by trailing optional parameters; these differ in their first.
#pragma warning disable RS0027
    public async Task<CleanupResult> DoneFlushSegmentsAsync(IReadOnlyList<FlushedSegment> segments, CancellationToken cancellationToken = default)
#pragma warning restore RS0027
    {
        ArgumentNullException.ThrowIfNull(segments);
        cancellationToken.ThrowIfCancellationRequested();
        if (segments.Count == 0)
        {
            return new CleanupResult(0, 0, 0, []);
        }

        var options = _options.CurrentValue;
        var started = _time.GetTimestamp();
        var outcomes = await CreateStore(options).CleanupFlushedSegmentsAsync(segments, FenceTtl(options)).WaitAsync(cancellationToken).ConfigureAwait(false);
        var elapsed = _time.GetElapsedTime(started);
        var result = SegmentLosses.Final(outcomes);
        _metrics.CleanupDuration.Record(elapsed.TotalSeconds);
        _metrics.CleanupSegments.Add(segments.Count);
        SegmentLosses.Publish(result, _metrics, _logger);
        Log.CleanupCompleted(_logger, segments.Count, elapsed.TotalMilliseconds);
        return result;
    }

    /// <summary>Cleans up what a flush delivered: every segment of <paramref name="flush"/>.</summary>
    /// <param name="flush">The result of <see cref="FlushSegmentsAsync"/>, all of whose segments were handed off.</param>
    /// <param name="cancellationToken">Stops waiting; commands already sent may still run.</param>
    /// <returns>What was cleaned, and the losses of the cleaned segments.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="flush"/> is <see langword="null"/>.</exception>
    /// <exception cref="RedisException">Redis failed a cleanup command; what failed stays and is delivered again.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<CleanupResult> DoneFlushSegmentsAsync(FlushResult flush, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(flush);
        return DoneFlushSegmentsAsync(flush.Segments, cancellationToken);
    }

    /// <summary>
    /// Releases the flush locks of segments whose hand-off failed, so the next flush retries them at once instead of
    /// after the lock TTL. Their data stays as it is. Does nothing for locks another flush holds.
    /// </summary>
    /// <param name="segments">Segments from <see cref="FlushSegmentsAsync"/> that were not delivered.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when the locks are released.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="segments"/> is <see langword="null"/>.</exception>
    /// <exception cref="RedisException">Redis failed a release; the lock then expires after its TTL.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task ReleaseFlushLocksAsync(IReadOnlyList<FlushedSegment> segments, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(segments);
        cancellationToken.ThrowIfCancellationRequested();
        if (segments.Count > 0)
        {
            await CreateStore(_options.CurrentValue).ReleaseFlushLocksAsync(segments).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Gets the queue shards the next flush reads: those given to <see cref="AssignShards"/>, or else the options'
    /// <see cref="SpanBufferOptions.AssignedShards"/> (shard 0 when not set). Empty when the buffer owns no shard.
    /// </summary>
    public IReadOnlyList<int> AssignedShards => AssignedShardsFor(_options.CurrentValue);

    /// <summary>
    /// Replaces the queue shards this buffer flushes, for a host whose partitions change at run time (a Kafka
    /// consumer's assigned and revoked callbacks). The next flush reads the new shards and divides the max-flush-segments
    /// option over them; a flush in flight finishes with the shards it started with. From now on this assignment wins
    /// over <see cref="SpanBufferOptions.AssignedShards"/>. Ingest is unaffected.
    /// </summary>
    /// <remarks>
    /// While two consumers both flush a shard during the switch, turn on flush locks
    /// (<see cref="SpanBufferOptions.FlushLockTtl"/>) so that each segment goes to one of them.
    /// </remarks>
    /// <param name="shards">The shards; empty for none.</param>
    /// <exception cref="ArgumentNullException"><paramref name="shards"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A shard is negative or listed twice.</exception>
    public void AssignShards(IEnumerable<int> shards)
    {
        ArgumentNullException.ThrowIfNull(shards);
        int[] assigned = [.. shards];
        if (SpanBufferOptionsValidator.ShardListProblems(assigned).FirstOrDefault() is { } problem)
        {
            throw new ArgumentException($"The shards {problem}", nameof(shards));
        }

        _assignedShards = assigned;
    }

    /// <summary>Counts the segments queued in each assigned shard.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>One entry per assigned shard.</returns>
    /// <exception cref="RedisException">Redis failed a read (for example a queue key of the wrong type).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<IReadOnlyList<ShardQueueSize>> GetQueueSizesAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var options = _options.CurrentValue;
        var sizes = await CreateStore(options).GetQueueSizesAsync(QueueShards(options, AssignedShardsFor(options))).WaitAsync(cancellationToken).ConfigureAwait(false);
        foreach (var size in sizes)
        {
            _metrics.QueueSize.Record(size.Segments, SpanBufferMetrics.Shard(size.Shard));
        }

        return sizes;
    }

    /// <summary>
    /// Reads used and available memory of every Redis primary: <c>used_memory</c>, and <c>maxmemory</c> or else the
    /// host's total memory, from <c>INFO memory</c>. Needs no <c>allowAdmin=true</c> on the connection: the INFO runs
    /// inside a keyless Lua script on each primary (the server must allow <c>EVALSHA</c>/<c>EVAL</c> and <c>INFO</c>).
    /// </summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>Per-node and total memory.</returns>
    /// <exception cref="InvalidOperationException">No Redis primary is connected.</exception>
    /// <exception cref="RedisException">A primary failed the read (e.g. its ACL denies <c>EVAL</c> or <c>INFO</c>).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<RedisMemoryUsage> GetMemoryUsageAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var usage = await RedisSpanStore.GetMemoryUsageAsync(_redis).WaitAsync(cancellationToken).ConfigureAwait(false);
        _metrics.RedisMemoryRatio.Record(usage.Ratio);
        return usage;
    }

    /// <inheritdoc />
    public void Dispose() => _metrics.Dispose();

    private RedisSpanStore CreateStore(SpanBufferOptions options) =>
        new(_redis.GetDatabase(), new KeySchema(options.KeyPrefix));

    private IReadOnlyList<int> AssignedShardsFor(SpanBufferOptions options) => _assignedShards ?? options.FlushShards;

    private static List<QueueShard> QueueShards(SpanBufferOptions options, IReadOnlyList<int> shards)
    {
        var keys = new KeySchema(options.KeyPrefix);
        return shards.Select(shard => new QueueShard(shard, keys.QueueKey(shard, options.SliceId))).ToList();
    }

    private static long Seconds(TimeSpan value) => (long)value.TotalSeconds;

    /// <summary>How long a cleanup's fence may outlive a cleanup that died before removing the queue entry.</summary>
    private static TimeSpan FenceTtl(SpanBufferOptions options) =>
        options.FlushLockTtl > TimeSpan.FromSeconds(10) ? options.FlushLockTtl : TimeSpan.FromSeconds(10);

    private static SpanBufferOptions Validated(SpanBufferOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var copy = options.Clone();
        SpanBufferOptionsValidator.ThrowIfInvalid(copy);
        return copy;
    }

    private sealed class FixedOptionsMonitor(SpanBufferOptions value) : IOptionsMonitor<SpanBufferOptions>
    {
        public SpanBufferOptions CurrentValue => value;

        public SpanBufferOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<SpanBufferOptions, string?> listener) => null;
    }
}
