using System.Diagnostics;
using SpanBuffer.Ingest;

namespace SpanBuffer.Benchmarks;

/// <summary>Times the client-side pure ingest steps over a whole workload (no Redis), to see where client CPU goes.</summary>
internal static class ClientProfile
{
    public static int Run(string[] args, TextWriter output)
    {
        var spans = Workload.Load(args[0], 4);
        var batches = spans.Chunk(1000).ToList();
        for (var round = 0; round < 3; round++)
        {
            TimeSpan group = default, build = default, compress = default;
            long compressedBytes = 0;
            foreach (var batch in batches)
            {
                var t = Stopwatch.GetTimestamp();
                var trees = SpanGrouper.GroupByParent(batch);
                group += Stopwatch.GetElapsedTime(t);
                t = Stopwatch.GetTimestamp();
                var subsegments = Subsegment.Build(trees, 0);
                build += Stopwatch.GetElapsedTime(t);
                t = Stopwatch.GetTimestamp();
                foreach (var subsegment in subsegments)
                {
                    compressedBytes += PayloadCodec.Compress(subsegment.Spans.AsSpan(), 0).Length;
                }

                compress += Stopwatch.GetElapsedTime(t);
            }

            output.WriteLine($"round {round}: group {group.TotalMicroseconds / spans.Count:F2} us/span, subsegments+salts {build.TotalMicroseconds / spans.Count:F2} us/span, compress {compress.TotalMicroseconds / spans.Count:F2} us/span ({compressedBytes / 1048576.0:F1} MiB)");
        }

        return 0;
    }
}
