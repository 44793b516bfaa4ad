using System.Buffers;
using System.Text.Json;

namespace SpanBuffer.Demo;

/// <summary>The shape of a generated workload; the defaults match <c>gen-spans.py</c>'s.</summary>
public sealed record WorkloadSettings
{
    public int Traces { get; init; } = DemoOptions.DefaultTraces;

    public int Seed { get; init; } = DemoOptions.DefaultSeed;

    public int SpansPerSegment { get; init; } = 10;

    public int Projects { get; init; } = 8;

    /// <summary>Extra bytes of attribute text per span payload.</summary>
    public int Pad { get; init; } = 300;

    /// <summary>Share of segments with a nested segment (a downstream service's segment span inside the tree).</summary>
    public double Nested { get; init; } = 0.1;

    /// <summary>Share of traces whose root never arrives (their segment is flushed rootless).</summary>
    public double Orphans { get; init; } = 0.05;

    /// <summary>Every Nth trace has a large segment of <see cref="LargeSize"/> spans; 0 for none.</summary>
    public int LargeEvery { get; init; } = 1000;

    public int LargeSize { get; init; } = 2000;

    /// <summary>Arrival order is shuffled within a sliding window of this many spans, so children often come before parents.</summary>
    public int Disorder { get; init; } = 64;

    /// <summary>The <c>received</c> timestamp of the first trace; it advances by one second every 1000 traces.</summary>
    public long StartTime { get; init; } = 1_700_000_000;
}

/// <summary>
/// A deterministic synthetic workload in C#, the same JSON shape and the same mix as
/// <c>shared/bench/gen-spans.py</c> (not byte-identical: the random generators differ). Per trace: a root
/// segment span and its descendants, sometimes a nested segment, sometimes an orphan subtree whose parent
/// never arrives; arrival order shuffled within a window. One compact JSON ingest message per line.
/// </summary>
public static class WorkloadGenerator
{
    private static readonly string[] Ops = ["db", "http.client", "cache.get", "ui.render", "function"];
    private static readonly string[] Environments = ["production", "staging"];
    private static readonly string[] Names = ["GET /api/0/issues/", "SELECT users", "render", "cache.get"];

    /// <summary>Yields the messages in arrival order; the same settings give the same bytes.</summary>
    public static IEnumerable<byte[]> Generate(WorkloadSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
#pragma warning disable CA5394 // Deterministic test data, not security.
        var rng = new Random(settings.Seed);
        var window = new List<GeneratedSpan>();
        var buffer = new ArrayBufferWriter<byte>(1024);
        for (var i = 0; i < settings.Traces; i++)
        {
            var traceId = HexId(rng, 16);
            var projectId = 1 + rng.Next(settings.Projects);
            var large = settings.LargeEvery > 0 && i % settings.LargeEvery == settings.LargeEvery - 1;
            var count = large ? settings.LargeSize : settings.SpansPerSegment;
            var spans = Tree(rng, settings, projectId, traceId, rootParent: null, count, settings.StartTime + (i / 1000), settings.Nested);
            if (rng.NextDouble() < settings.Orphans)
            {
                spans[0].ParentSpanId = HexId(rng, 8);
                spans[0].IsSegment = false;
            }

            foreach (var span in spans)
            {
                window.Add(span);
                if (window.Count >= settings.Disorder)
                {
                    var k = rng.Next(window.Count);
                    (window[k], window[^1]) = (window[^1], window[k]);
                    yield return Serialize(window[^1], buffer);
                    window.RemoveAt(window.Count - 1);
                }
            }
        }

        rng.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(window));
        foreach (var span in window)
        {
            yield return Serialize(span, buffer);
        }
    }

    /// <summary>The spans of one segment of <paramref name="count"/> spans; may contain one nested segment.</summary>
    private static List<GeneratedSpan> Tree(Random rng, WorkloadSettings settings, int projectId, string traceId, string? rootParent, int count, long time, double nested)
    {
        var root = HexId(rng, 8);
        var spans = new List<GeneratedSpan> { NewSpan(rng, settings, projectId, traceId, root, rootParent, isSegment: rootParent is null, time) };
        var ids = new List<string> { root };
        for (var i = 0; i < count - 1; i++)
        {
            var parent = ids[rng.Next(ids.Count)];
            var id = HexId(rng, 8);
            spans.Add(NewSpan(rng, settings, projectId, traceId, id, parent, isSegment: false, time));
            ids.Add(id);
        }

        if (count > 3 && rng.NextDouble() < nested)
        {
            var childRootParent = ids[rng.Next(ids.Count)];
            var sub = Tree(rng, settings, projectId, traceId, childRootParent, Math.Max(2, count / 3), time, nested: 0);
            sub[0].IsSegment = true;
            spans.AddRange(sub);
        }

        return spans;
    }

    private static GeneratedSpan NewSpan(Random rng, WorkloadSettings settings, int projectId, string traceId, string spanId, string? parent, bool isSegment, long time)
    {
        var start = time + rng.NextDouble();
        return new GeneratedSpan
        {
            TraceId = traceId,
            SpanId = spanId,
            ParentSpanId = parent,
            IsSegment = isSegment,
            ProjectId = projectId,
            Received = time,
            StartTimestamp = Math.Round(start, 6),
            EndTimestamp = Math.Round(start + rng.NextDouble(), 6),
            Name = Names[rng.Next(Names.Length)],
            Op = Ops[rng.Next(Ops.Length)],
            Release = $"backend@{rng.Next(10)}.{rng.Next(50)}.{rng.Next(200)}",
            Environment = Environments[rng.Next(Environments.Length)],
            ThreadId = rng.Next(1, 64),
            Pad = settings.Pad,
        };
    }
#pragma warning restore CA5394

    private static string HexId(Random rng, int bytes)
    {
        Span<byte> value = stackalloc byte[bytes];
#pragma warning disable CA5394 // Deterministic test data, not security.
        rng.NextBytes(value);
#pragma warning restore CA5394
        return Convert.ToHexStringLower(value);
    }

    /// <summary>The field order and value types of gen-spans.py's messages.</summary>
    private static byte[] Serialize(GeneratedSpan span, ArrayBufferWriter<byte> buffer)
    {
        buffer.ResetWrittenCount();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("trace_id", span.TraceId);
            json.WriteString("span_id", span.SpanId);
            if (span.ParentSpanId is null)
            {
                json.WriteNull("parent_span_id");
            }
            else
            {
                json.WriteString("parent_span_id", span.ParentSpanId);
            }

            json.WriteBoolean("is_segment", span.IsSegment);
            json.WriteNumber("project_id", span.ProjectId);
            json.WriteNumber("organization_id", 1);
            json.WriteNumber("retention_days", 90);
            json.WriteNumber("received", span.Received);
            json.WriteNumber("start_timestamp", span.StartTimestamp);
            json.WriteNumber("end_timestamp", span.EndTimestamp);
            json.WriteString("name", span.Name);
            json.WriteString("status", "ok");
            json.WriteStartObject("attributes");
            WriteAttribute(json, "sentry.op", span.Op);
            WriteAttribute(json, "sentry.release", span.Release);
            WriteAttribute(json, "sentry.environment", span.Environment);
            json.WriteStartObject("thread.id");
            json.WriteString("type", "integer");
            json.WriteNumber("value", span.ThreadId);
            json.WriteEndObject();
            if (span.Pad > 0)
            {
                WriteAttribute(json, "db.statement", "SELECT " + new string('x', span.Pad));
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteAttribute(Utf8JsonWriter json, string name, string value)
    {
        json.WriteStartObject(name);
        json.WriteString("type", "string");
        json.WriteString("value", value);
        json.WriteEndObject();
    }

    private sealed class GeneratedSpan
    {
        public required string TraceId { get; init; }

        public required string SpanId { get; init; }

        public string? ParentSpanId { get; set; }

        public bool IsSegment { get; set; }

        public int ProjectId { get; init; }

        public long Received { get; init; }

        public double StartTimestamp { get; init; }

        public double EndTimestamp { get; init; }

        public required string Name { get; init; }

        public required string Op { get; init; }

        public required string Release { get; init; }

        public required string Environment { get; init; }

        public int ThreadId { get; init; }

        public int Pad { get; init; }
    }
}
