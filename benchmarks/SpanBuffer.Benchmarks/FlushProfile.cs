using SpanBuffer.Flush;
using SpanBuffer.Models;
using SpanBuffer.Redis;
using StackExchange.Redis;

namespace SpanBuffer.Benchmarks;

/// <summary>
/// Where flush cost goes, step by step (diagnostics for optimisation work): ingests a workload, then flushes it
/// through the store steps one at a time and charges each step its wall time, client CPU, redis-server CPU and
/// managed allocations. Two passes under other key prefixes warm the JIT up; the third is reported.
/// </summary>
internal static class FlushProfile
{
    private static readonly string[] s_steps = ["candidates", "load", "build", "messages", "cleanup"];

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        await using var server = await EndToEnd.StartLocalRedisAsync(CancellationToken.None);
        using var redis = await ConnectionMultiplexer.ConnectAsync(server.EndPoint + ",allowAdmin=true");
        var probe = new RedisProbe(redis);
        var spans = Workload.Load(args[0], 4);
        foreach (var prefix in new[] { "warm-up-1", "warm-up-2", SegmentKey.DefaultPrefix })
        {
            var options = new SpanBufferOptions { AssignedShards = [0, 1, 2, 3], KeyPrefix = prefix };
            using var buffer = new SpansBuffer(redis, options);
            foreach (var batch in spans.Chunk(1000))
            {
                await buffer.ProcessSpansAsync(batch, 1700000000);
            }

            var costs = await FlushAllAsync(redis, probe, options);
            if (prefix == SegmentKey.DefaultPrefix)
            {
                output.WriteLine($"{spans.Count} spans, per span and step: wall, client CPU, redis-server CPU, allocated");
                foreach (var (step, cost) in s_steps.Zip(costs))
                {
                    output.WriteLine($"  {step,-10} {cost.Wall.TotalMicroseconds / spans.Count,6:F2} us {cost.Client.TotalMicroseconds / spans.Count,6:F2} us {cost.Redis * 1e6 / spans.Count,6:F2} us {cost.Allocated / spans.Count,6} B");
                }

                var total = costs.Aggregate((a, b) => a + b);
                output.WriteLine($"  {"total",-10} {total.Wall.TotalMicroseconds / spans.Count,6:F2} us {total.Client.TotalMicroseconds / spans.Count,6:F2} us {total.Redis * 1e6 / spans.Count,6:F2} us {total.Allocated / spans.Count,6} B");
            }
        }

        return 0;
    }

    private static async Task<StepCost[]> FlushAllAsync(IConnectionMultiplexer redis, RedisProbe probe, SpanBufferOptions options)
    {
        var store = new RedisSpanStore(redis.GetDatabase(), new KeySchema(options.KeyPrefix));
        var shards = options.AssignedShards!.Select(s => new QueueShard(s, $"{options.KeyPrefix}:q:{s}")).ToList();
        var costs = new StepCost[s_steps.Length];
        var arenas = new PayloadArena.Pool();
        var sink = new System.Buffers.ArrayBufferWriter<byte>(1 << 20);
        while (true)
        {
            IReadOnlyList<FlushCandidate> candidates = [];
            costs[0] += await MeasureAsync(probe, async () => candidates = (await store.LoadFlushCandidatesAsync(shards, 1700010000, 125)).Candidates);
            if (candidates.Count == 0)
            {
                break;
            }

            var stats = new FlushStats(TimeProvider.System);
            var arena = arenas.Rent();
            IReadOnlyList<LoadedSegment> loaded = [];
            costs[1] += await MeasureAsync(probe, async () => loaded = await store.LoadSegmentsAsync(candidates, options.SegmentPageSize, stats, arena));
            IReadOnlyList<BuiltSegment> built = [];
            costs[2] += await MeasureAsync(probe, () => Task.FromResult(built = SegmentAssembler.Build(loaded, 125, stats)));
            costs[3] += await MeasureAsync(probe, () =>
            {
                foreach (var segment in built)
                {
                    foreach (var message in segment.Flushed.ToMessages(options.MaxSegmentBytes))
                    {
                        sink.ResetWrittenCount();
                        message.WriteTo(sink);
                    }
                }

                return Task.FromResult(0);
            });
            costs[4] += await MeasureAsync(probe, () => store.CleanupFlushedSegmentsAsync(SegmentAssembler.Distinct(built), TimeSpan.FromSeconds(10)));
            arenas.Return(arena);
        }

        return costs;
    }

    private readonly record struct StepCost(TimeSpan Wall, TimeSpan Client, double Redis, long Allocated)
    {
        public static StepCost operator +(StepCost a, StepCost b) =>
            new(a.Wall + b.Wall, a.Client + b.Client, a.Redis + b.Redis, a.Allocated + b.Allocated);
    }

    /// <summary>One step's cost, measured the way the end-to-end phases are (the probe's INFO calls fall outside it).</summary>
    private static async Task<StepCost> MeasureAsync(RedisProbe probe, Func<Task> step)
    {
        var phase = await Phase.MeasureAsync(probe, async () =>
        {
            await step();
            return 0L;
        });
        return new StepCost(phase.Wall, phase.ClientCpu, phase.RedisCpu.TotalSeconds, phase.AllocatedBytes);
    }
}
