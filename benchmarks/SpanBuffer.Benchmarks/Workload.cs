using System.Globalization;
using SpanBuffer.Models;

namespace SpanBuffer.Benchmarks;

/// <summary>Reads a JSONL workload (one ingest message per line) into spans; partition = int(trace_id[:8], 16) % shards.</summary>
internal static class Workload
{
    public static List<Span> Load(string path, int shards)
    {
        var bytes = File.ReadAllBytes(path);
        var spans = new List<Span>(bytes.Length / 800);
        ReadOnlyMemory<byte> memory = bytes;
        while (memory.Length > 0)
        {
            var end = memory.Span.IndexOf((byte)'\n');
            var line = end < 0 ? memory : memory[..end];
            memory = end < 0 ? ReadOnlyMemory<byte>.Empty : memory[(end + 1)..];
            if (line.Length == 0)
            {
                continue;
            }

            var traceId = ReadTraceId(line.Span);
            spans.Add(Span.Parse(line, PartitionOf(traceId, shards)));
        }

        return spans;
    }

    public static int PartitionOf(ReadOnlySpan<char> traceId, int shards) =>
        (int)(uint.Parse(traceId[..8], NumberStyles.HexNumber, CultureInfo.InvariantCulture) % (uint)shards);

    private static string ReadTraceId(ReadOnlySpan<byte> line)
    {
        var marker = "\"trace_id\":\""u8;
        var start = line.IndexOf(marker) + marker.Length;
        var length = line[start..].IndexOf((byte)'"');
        return System.Text.Encoding.ASCII.GetString(line.Slice(start, length));
    }
}
