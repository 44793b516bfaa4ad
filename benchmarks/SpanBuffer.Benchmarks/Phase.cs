using System.Diagnostics;
using System.Globalization;

namespace SpanBuffer.Benchmarks;

/// <summary>What one phase of the end-to-end run cost: wall time, client and redis-server CPU, allocations.</summary>
internal sealed record Phase(TimeSpan Wall, TimeSpan ClientCpu, TimeSpan RedisCpu, long AllocatedBytes, long Result, int Gen0, int Gen2, long JitMethods, TimeSpan JitTime)
{
    public static async Task<Phase> MeasureAsync(RedisProbe probe, Func<Task<long>> run, string name = "")
    {
        var control = Environment.GetEnvironmentVariable("SPANBUFFER_PERF_CONTROL");
        var profiled = control is not null && Environment.GetEnvironmentVariable("SPANBUFFER_PERF_PHASE") == name;
        if (profiled)
        {
            File.WriteAllText(control!, "enable\n");
        }

        var process = Process.GetCurrentProcess();
        var redisBefore = await probe.CpuSecondsAsync();
        var cpuBefore = process.TotalProcessorTime;
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var gen0Before = GC.CollectionCount(0);
        var gen2Before = GC.CollectionCount(2);
        var jitMethodsBefore = System.Runtime.JitInfo.GetCompiledMethodCount();
        var jitTimeBefore = System.Runtime.JitInfo.GetCompilationTime();
        var started = Stopwatch.GetTimestamp();
        var result = await run();
        var wall = Stopwatch.GetElapsedTime(started);
        if (profiled)
        {
            File.WriteAllText(control!, "disable\n");
        }
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpuBefore;
        var redisCpu = TimeSpan.FromSeconds(await probe.CpuSecondsAsync() - redisBefore);
        return new Phase(
            wall, cpu, redisCpu, allocated, result, GC.CollectionCount(0) - gen0Before, GC.CollectionCount(2) - gen2Before,
            System.Runtime.JitInfo.GetCompiledMethodCount() - jitMethodsBefore, System.Runtime.JitInfo.GetCompilationTime() - jitTimeBefore);
    }

    public string Format(string name, int spans, long segments) => string.Create(
        CultureInfo.InvariantCulture,
        $"{name}: {Wall.TotalSeconds:F2} s wall, {spans / Wall.TotalSeconds:N0} spans/s, {segments / Wall.TotalSeconds:N0} segments/s, " +
        $"redis-server CPU {RedisCpu.TotalSeconds:F2} s ({RedisCpu.TotalMicroseconds / spans:F1} us/span, busy {100 * RedisCpu / Wall:F0}% of wall), " +
        $"client CPU {ClientCpu.TotalSeconds:F2} s ({ClientCpu.TotalMicroseconds / spans:F1} us/span), " +
        $"allocated {AllocatedBytes / 1048576.0:F1} MiB ({(double)AllocatedBytes / spans:F0} B/span), GCs gen0 {Gen0} gen2 {Gen2}, " +
        $"JIT {JitMethods} methods in {JitTime.TotalMilliseconds:F0} ms");
}
