using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using SpanBuffer.Flush;
using SpanBuffer.Ingest;
using SpanBuffer.Models;

namespace SpanBuffer.Benchmarks;

/// <summary>
/// The hot pure steps, on one realistic batch of 1000 spans (gen-spans.py shape, ~880 bytes each).
/// Run: <c>dotnet run -c Release --project benchmarks/SpanBuffer.Benchmarks -- --filter '*'</c>.
/// </summary>
[MemoryDiagnoser]
public class MicroBenchmarks
{
    private Span[] _batch = [];
    private List<Subsegment> _subsegments = [];
    private byte[][] _compressed = [];
    private LoadedSegment _loaded = null!;
    private FlushedSegment _flushed = null!;
    private readonly ArrayBufferWriter<byte> _output = new(1 << 20);

    [GlobalSetup]
    public void Setup()
    {
        _batch = SyntheticBatch.Create(1000);
        _subsegments = Subsegment.Build(SpanGrouper.GroupByParent(_batch), 0);
        _compressed = _subsegments.Select(s => PayloadCodec.Compress(s.Spans.AsSpan(), 0)).ToArray();
        var largest = _subsegments.MaxBy(s => s.Spans.Count)!;
        var candidate = new FlushCandidate(0, "span-buf:q:0", $"span-buf:s:{{1:{largest.Tree.TraceId}}}:{largest.ParentSpanId}", 0);
        _loaded = new LoadedSegment(candidate, largest.Spans.Select(s => s.Payload).ToArray(), ["k"], new SegmentIngestMetadata(null, null));
        _flushed = SegmentAssembler.BuildOne(_loaded).Flushed;
    }

    [Benchmark(Description = "group by parent (1000 spans)")]
    public int GroupByParent() => SpanGrouper.GroupByParent(_batch).Count;

    [Benchmark(Description = "subsegments + BLAKE2b salts (1000 spans)")]
    public int Salts() => Subsegment.Build(SpanGrouper.GroupByParent(_batch), 0).Count;

    [Benchmark(Description = "join + zstd compress (1000 spans)")]
    public long JoinAndCompress()
    {
        long bytes = 0;
        foreach (var subsegment in _subsegments)
        {
            bytes += PayloadCodec.Compress(subsegment.Spans.AsSpan(), 0).Length;
        }

        return bytes;
    }

    [Benchmark(Description = "decompress + split (1000 spans)")]
    public int Decompress()
    {
        var payloads = new List<ReadOnlyMemory<byte>>(1000);
        foreach (var member in _compressed)
        {
            PayloadCodec.Decode(member, payloads);
        }

        return payloads.Count;
    }

    [Benchmark(Description = "enrich one segment's spans (JSON patch)")]
    public int Enrich() => SegmentAssembler.BuildOne(_loaded).Flushed.Spans.Count;

    [Benchmark(Description = "write one segment's message")]
    public int WriteMessage()
    {
        _output.ResetWrittenCount();
        foreach (var message in _flushed.ToMessages(10 * 1024 * 1024))
        {
            message.WriteTo(_output);
        }

        return _output.WrittenCount;
    }
}

/// <summary>A deterministic batch in the shape of gen-spans.py output: traces of a root and children, shuffled.</summary>
internal static class SyntheticBatch
{
    public static Span[] Create(int count)
    {
        var random = new Random(1);
        var spans = new List<Span>(count);
        while (spans.Count < count)
        {
            var trace = RandomHex(random, 16);
            var root = RandomHex(random, 8);
            var size = random.Next(3, 20);
            spans.Add(Create(random, trace, root, null));
            for (var i = 1; i < size && spans.Count < count; i++)
            {
                spans.Add(Create(random, trace, RandomHex(random, 8), root));
            }
        }

        return spans.OrderBy(_ => random.Next()).ToArray();
    }

    private static Span Create(Random random, string trace, string spanId, string? parent)
    {
        var parentJson = parent is null ? "null" : $"\"{parent}\"";
        var json = "{\"trace_id\":\"" + trace + "\",\"span_id\":\"" + spanId + "\",\"parent_span_id\":" + parentJson
            + ",\"is_segment\":" + (parent is null ? "true" : "false")
            + ",\"project_id\":1,\"organization_id\":1,\"retention_days\":90,\"received\":1700000000,\"start_timestamp\":1700000000.26633,\"end_timestamp\":1700000001.068157,\"name\":\"GET /api/0/issues/\",\"status\":\"ok\",\"attributes\":{\"sentry.op\":{\"type\":\"string\",\"value\":\"db\"},\"thread.id\":{\"type\":\"integer\",\"value\":"
            + random.Next(64).ToString(System.Globalization.CultureInfo.InvariantCulture)
            + "},\"db.statement\":{\"type\":\"string\",\"value\":\"SELECT " + new string('x', random.Next(300, 600)) + "\"}}}";
        return Span.Parse(Encoding.UTF8.GetBytes(json));
    }

    private static string RandomHex(Random random, int bytes)
    {
        var buffer = new byte[bytes];
        random.NextBytes(buffer);
        return Convert.ToHexStringLower(buffer);
    }
}
