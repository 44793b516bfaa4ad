using System.Buffers;
using System.Diagnostics;
using SpanBuffer.Flush;
using SpanBuffer.Ingest;
using SpanBuffer.Models;

namespace SpanBuffer.Benchmarks;

/// <summary>
/// Times the client-side pure steps over a whole workload, one thread, no Redis, to see where client CPU goes: the
/// ingest steps (grouping, salts, compression) and the flush steps (decompression, enrichment, message writing) on
/// the frames ingest produced, one subsegment per segment.
/// </summary>
internal static class ClientProfile
{
    public static int Run(string[] args, TextWriter output)
    {
        var spans = Workload.Load(args[0], 4);
        var batches = spans.Chunk(1000).ToList();
        var frames = new List<(Subsegment Subsegment, byte[] Frame)>();
        for (var round = 0; round < 3; round++)
        {
            TimeSpan group = default, build = default, compress = default;
            long compressedBytes = 0;
            frames.Clear();
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
                    var frame = PayloadCodec.Compress(subsegment.Spans.AsSpan(), 0);
                    compressedBytes += frame.Length;
                    frames.Add((subsegment, frame));
                }

                compress += Stopwatch.GetElapsedTime(t);
            }

            output.WriteLine($"ingest round {round}: group {group.TotalMicroseconds / spans.Count:F2} us/span, subsegments+salts {build.TotalMicroseconds / spans.Count:F2} us/span, compress {compress.TotalMicroseconds / spans.Count:F2} us/span ({compressedBytes / 1048576.0:F1} MiB)");
        }

        var arenas = new PayloadArena.Pool();
        var sink = new ArrayBufferWriter<byte>(1 << 20);
        for (var round = 0; round < 5; round++)
        {
            TimeSpan decompress = default, enrich = default, write = default;
            var arena = arenas.Rent();
            var flushed = 0;
            foreach (var (subsegment, frame) in frames)
            {
                var t = Stopwatch.GetTimestamp();
                var payloads = new List<ReadOnlyMemory<byte>>(subsegment.Spans.Count);
                PayloadCodec.Decode(frame, payloads, arena);
                decompress += Stopwatch.GetElapsedTime(t);
                t = Stopwatch.GetTimestamp();
                var key = $"span-buf:s:{{{subsegment.Tree.ProjectId}:{subsegment.Tree.TraceId}}}:{subsegment.ParentSpanId}";
                var loaded = new LoadedSegment(new FlushCandidate(0, "span-buf:q:0", key, 0), payloads, [], default);
                var segment = SegmentAssembler.BuildOne(loaded).Flushed;
                enrich += Stopwatch.GetElapsedTime(t);
                t = Stopwatch.GetTimestamp();
                foreach (var message in segment.ToMessages(10 * 1024 * 1024))
                {
                    sink.ResetWrittenCount();
                    message.WriteTo(sink);
                }

                write += Stopwatch.GetElapsedTime(t);
                flushed += segment.Spans.Count;
            }

            arenas.Return(arena);
            output.WriteLine($"flush round {round}: decompress {decompress.TotalMicroseconds / flushed:F2} us/span, enrich {enrich.TotalMicroseconds / flushed:F2} us/span, messages {write.TotalMicroseconds / flushed:F2} us/span");
        }

        return 0;
    }
}
