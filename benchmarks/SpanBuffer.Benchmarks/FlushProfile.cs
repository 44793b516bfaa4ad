using SpanBuffer.Flush;
using SpanBuffer.Redis;
using StackExchange.Redis;

namespace SpanBuffer.Benchmarks;

/// <summary>Allocations of each flush step over a whole workload (diagnostics for optimisation work).</summary>
internal static class FlushProfile
{
    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        await using var server = await EndToEnd.StartLocalRedisAsync(CancellationToken.None);
        using var redis = await ConnectionMultiplexer.ConnectAsync(server.EndPoint);
        var spans = Workload.Load(args[0], 4);
        var options = new SpanBufferOptions { AssignedShards = [0, 1, 2, 3] };
        using var buffer = new SpansBuffer(redis, options);
        foreach (var batch in spans.Chunk(1000))
        {
            await buffer.ProcessSpansAsync(batch, 1700000000);
        }

        var store = new RedisSpanStore(redis.GetDatabase(), new KeySchema(options.KeyPrefix));
        var shards = Enumerable.Range(0, 4).Select(s => new QueueShard(s, $"span-buf:q:{s}")).ToList();
        long candidatesBytes = 0, loadBytes = 0, buildBytes = 0, messageBytes = 0, cleanupBytes = 0;
        var arena = new PayloadArena.Pool();
        var sink = new System.Buffers.ArrayBufferWriter<byte>(1 << 20);
        while (true)
        {
            var a = GC.GetTotalAllocatedBytes(true);
            var candidates = await store.LoadFlushCandidatesAsync(shards, 1700010000, 125);
            var b = GC.GetTotalAllocatedBytes(true);
            candidatesBytes += b - a;
            if (candidates.Count == 0)
            {
                break;
            }

            var stats = new FlushStats(TimeProvider.System);
            var payloadArena = arena.Rent();
            var loaded = await store.LoadSegmentsAsync(candidates, 100, stats, payloadArena);
            var c = GC.GetTotalAllocatedBytes(true);
            loadBytes += c - b;
            var built = SegmentAssembler.Build(loaded, 125, stats);
            var d = GC.GetTotalAllocatedBytes(true);
            buildBytes += d - c;
            foreach (var segment in built)
            {
                foreach (var message in segment.Flushed.ToMessages(options.MaxSegmentBytes))
                {
                    sink.ResetWrittenCount();
                    message.WriteTo(sink);
                }
            }

            var e = GC.GetTotalAllocatedBytes(true);
            messageBytes += e - d;
            await store.CleanupFlushedSegmentsAsync(SegmentAssembler.Distinct(built));
            cleanupBytes += GC.GetTotalAllocatedBytes(true) - e;
            arena.Return(payloadArena);
        }

        output.WriteLine($"per span: candidates {candidatesBytes / spans.Count} B, load {loadBytes / spans.Count} B, build {buildBytes / spans.Count} B, messages {messageBytes / spans.Count} B, cleanup {cleanupBytes / spans.Count} B");
        return 0;
    }
}
