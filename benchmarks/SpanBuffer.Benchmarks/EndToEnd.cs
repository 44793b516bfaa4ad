using System.Diagnostics;
using SpanBuffer.Demo;
using SpanBuffer.Models;
using StackExchange.Redis;

namespace SpanBuffer.Benchmarks;

/// <summary>
/// End-to-end throughput: parse a JSONL workload up front, ingest it in batches at a fixed clock, then flush
/// (flush, discard messages, clean up) at a clock past every deadline until the buffer is empty. Reports per phase
/// wall time, spans/s, segments/s, redis-server CPU (INFO cpu deltas), client CPU, managed allocations, Redis memory
/// after ingest and keys left, and checks that every input span came out exactly once.
/// </summary>
internal static class EndToEnd
{
    private const string Usage = """
        usage: SpanBuffer.Benchmarks e2e --input FILE [--redis CONNECTION] [--batch-size 1000] [--shards 4]
                                         [--now 1700000000] [--concurrency 1] [--warm-up 20000]
                                         [--SpanBuffer:Option=value ...]
          Without --redis a redis-server is started on a free loopback port (standalone).
        """;

    public static Task<LocalRedisServer> StartLocalRedisAsync(CancellationToken cancellationToken) =>
        LocalRedisServer.StartAsync(
            LocalRedisServer.FindExecutable() ?? throw new InvalidOperationException("redis-server is not on PATH: install it (apt-get install redis-server) or pass --redis HOST:PORT."),
            cancellationToken);

    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken cancellationToken)
    {
        var settings = EndToEndSettings.Parse(args, output, Usage);
        if (settings is null)
        {
            return 2;
        }

        await using var server = settings.Redis is null ? await StartLocalRedisAsync(cancellationToken) : null;
        var connectionString = settings.Redis ?? server!.EndPoint;
        using var redis = await ConnectionMultiplexer.ConnectAsync(connectionString + ",allowAdmin=true");

        output.WriteLine($"workload: {settings.Input}");
        var parseStarted = Stopwatch.GetTimestamp();
        var spans = Workload.Load(settings.Input, settings.Shards);
        var parseElapsed = Stopwatch.GetElapsedTime(parseStarted);
        output.WriteLine($"parse: {spans.Count} spans in {parseElapsed.TotalSeconds:F2} s ({spans.Count / parseElapsed.TotalSeconds:N0} spans/s, not part of ingest)");

        var options = settings.Options;
        options.AssignedShards = Enumerable.Range(0, settings.Shards).ToList();
        using var buffer = new SpansBuffer(redis, options);
        var probe = new RedisProbe(redis);
        if (await probe.CountKeysAsync() > 0)
        {
            output.WriteLine("refusing to run: the Redis database is not empty");
            return 2;
        }

        if (settings.WarmUpSpans > 0)
        {
            // JIT and connection warm-up: the same ingest and flush code as measured below, on a slice of the workload
            // under another prefix. Small flush cycles run the per-cycle code often enough for the tiered JIT to finish
            // optimising it, so the figures are those of a consumer that has been running for a while.
            var warmUp = spans.Take(settings.WarmUpSpans).ToList();
            var warmUpOptions = options.Clone();
            warmUpOptions.KeyPrefix = options.KeyPrefix + "-warmup";
            warmUpOptions.MaxFlushSegments = Math.Min(options.MaxFlushSegments, 50);
            using var warmUpBuffer = new SpansBuffer(redis, warmUpOptions);
            await IngestAllAsync(warmUpBuffer, warmUp, settings, cancellationToken);
            await FlushAllAsync(warmUpBuffer, settings.Now + 10_000, warmUpOptions.MaxSegmentBytes, new SpanTally(warmUp.Count), new FlushTimes(), cancellationToken);
            output.WriteLine($"warm-up: {warmUp.Count} spans ingested and flushed under another prefix (not measured)");
        }

        GC.Collect();
        var ingest = await Phase.MeasureAsync(probe, () => IngestAllAsync(buffer, spans, settings, cancellationToken), "ingest");
        var memoryAfterIngest = await probe.UsedMemoryAsync();
        var queued = (await buffer.GetQueueSizesAsync(cancellationToken)).Sum(q => q.Segments);
        var payloadSets = await probe.CountKeysAsync(options.KeyPrefix + ":s:*");

        GC.Collect();
        var seen = new SpanTally(spans.Count);
        var times = new FlushTimes();
        var flush = await Phase.MeasureAsync(probe, () => FlushAllAsync(buffer, settings.Now + 10_000, options.MaxSegmentBytes, seen, times, cancellationToken), "flush");
        var keysLeft = await probe.CountKeysAsync();

        output.WriteLine($"redis: {connectionString} ({probe.Primaries} primaries), batch size {settings.BatchSize}, shards {settings.Shards}, concurrency {settings.Concurrency}, compression level {options.CompressionLevel}");
        output.WriteLine($"after ingest: {queued} queued segments, {payloadSets} payload sets, used_memory {memoryAfterIngest / 1048576.0:F1} MiB");
        output.WriteLine(ingest.Format("ingest", spans.Count, queued));
        output.WriteLine(flush.Format("flush+cleanup", spans.Count, flush.Result));
        output.WriteLine($"flush steps (wall, summed over cycles): load candidates {times.LoadCandidates.TotalSeconds:F2} s, load data {times.LoadData.TotalSeconds:F2} s (decompress {times.Decompress.TotalSeconds:F2} s), build {times.Build.TotalSeconds:F2} s, cleanup {times.Cleanup.TotalSeconds:F2} s");
        output.WriteLine($"keys left: {keysLeft}");

        var verdict = seen.Verify(spans);
        output.WriteLine(verdict.Message);
        return verdict.Ok && keysLeft == 0 ? 0 : 1;
    }

    /// <summary>Ingests every batch, keeping up to the configured number of calls in flight.</summary>
    private static async Task<long> IngestAllAsync(SpansBuffer buffer, IReadOnlyList<Span> spans, EndToEndSettings settings, CancellationToken cancellationToken)
    {
        using var gate = new SemaphoreSlim(settings.Concurrency);
        var inFlight = new List<Task>();
        foreach (var batch in spans.Chunk(settings.BatchSize))
        {
            await gate.WaitAsync(cancellationToken);
            inFlight.Add(IngestAsync(batch));
            inFlight.RemoveAll(t => t.IsCompletedSuccessfully);
        }

        await Task.WhenAll(inFlight);
        return 0;

        async Task IngestAsync(Span[] batch)
        {
            try
            {
                await buffer.ProcessSpansAsync(batch, settings.Now, cancellationToken);
            }
            finally
            {
                gate.Release();
            }
        }
    }

    /// <summary>Flushes until nothing is due: every message to the discarding sink, every span to the tally, then cleanup.</summary>
    private static async Task<long> FlushAllAsync(SpansBuffer buffer, long flushNow, long maxSegmentBytes, SpanTally tally, FlushTimes times, CancellationToken cancellationToken)
    {
        long segments = 0;
        while (true)
        {
            var result = await buffer.FlushSegmentsAsync(flushNow, cancellationToken);
            if (result.Segments.Count == 0)
            {
                return segments;
            }

            times.LoadCandidates += result.Stats.LoadCandidates;
            times.LoadData += result.Stats.LoadData;
            times.Decompress += result.Stats.Decompress;
            times.Build += result.Stats.Build;
            foreach (var segment in result.Segments)
            {
                if (segment.Spans.Count == 0)
                {
                    continue;
                }

                segments++;
                foreach (var message in segment.ToMessages(maxSegmentBytes))
                {
                    DiscardingSink.Write(message);
                }

                tally.Add(segment);
            }

            var cleanupStarted = Stopwatch.GetTimestamp();
            await buffer.DoneFlushSegmentsAsync(result.Segments, cancellationToken);
            times.Cleanup += Stopwatch.GetElapsedTime(cleanupStarted);
        }
    }

    /// <summary>Flush step wall times, summed over cycles.</summary>
    private sealed class FlushTimes
    {
        public TimeSpan LoadCandidates { get; set; }

        public TimeSpan LoadData { get; set; }

        public TimeSpan Decompress { get; set; }

        public TimeSpan Build { get; set; }

        public TimeSpan Cleanup { get; set; }
    }
}
