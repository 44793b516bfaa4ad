// Package smoke test: what a host does with the shipped SpanBuffer packages, end to end against a real Redis.
// Usage: PackageSmoke HOST:PORT [--packages DIR [--commit SHA]] [--leave-data]
//   HOST:PORT        the Redis to use (keys go under the "pkg-smoke" prefix, and are gone afterwards)
//   --packages DIR   also check the .nupkg/.snupkg files in DIR (metadata, README, symbols, Source Link)
//   --commit SHA     the commit Source Link and the repository metadata must name
//   --leave-data     after the checks, ingest a few traces under the default prefix (shards 0-7, no slice and slices
//                    1 and 2) and leave them queued, so that the tool commands CI runs next see a buffer with data
// Exits 0 when every check passes, 1 when one fails, 2 on bad usage.
using System.Text.Json;
using PackageSmoke;
using SpanBuffer;
using SpanBuffer.Models;
using StackExchange.Redis;

if (args.Length == 0 || args[0].StartsWith('-'))
{
    Console.Error.WriteLine("usage: PackageSmoke HOST:PORT [--packages DIR [--commit SHA]] [--leave-data]");
    return 2;
}

string? packagesDir = null, commit = null;
var leaveData = false;
for (var i = 1; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--packages" when i + 1 < args.Length:
            packagesDir = args[++i];
            break;
        case "--commit" when i + 1 < args.Length:
            commit = args[++i];
            break;
        case "--leave-data":
            leaveData = true;
            break;
        default:
            Console.Error.WriteLine($"unknown argument: {args[i]}");
            return 2;
    }
}

var failures = new List<string>();
void Check(bool ok, string what)
{
    Console.WriteLine($"  [{(ok ? "ok" : "FAIL")}] {what}");
    if (!ok)
    {
        failures.Add(what);
    }
}

if (packagesDir is not null)
{
    Console.WriteLine($"Packages in {packagesDir}:");
    PackageChecks.Run(packagesDir, commit, Check);
}

Console.WriteLine($"Round trip through Redis at {args[0]}:");
using var redis = await ConnectionMultiplexer.ConnectAsync(args[0]);
var options = new SpanBufferOptions { KeyPrefix = "pkg-smoke" };
using var buffer = new SpansBuffer(redis, options);

const long ProjectId = 42;
var traceId = Guid.NewGuid().ToString("N");
var rootId = RandomSpanId();
var childIds = new[] { RandomSpanId(), RandomSpanId() };
var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

var spans = new List<Span> { Span.Parse(SpanJson(rootId, parentId: null)) };
spans.AddRange(childIds.Select(id => Span.Parse(SpanJson(id, rootId))));
await buffer.ProcessSpansAsync(spans, now);

// The root arrived, so the segment is due after the root timeout.
var flushAt = now + (long)options.RootTimeout.TotalSeconds + 1;
var result = await buffer.FlushSegmentsAsync(flushAt);
Check(result.Segments.Count == 1, $"one segment flushed (got {result.Segments.Count})");

var outputSpans = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
var messageCount = 0;
foreach (var segment in result.Segments)
{
    foreach (var message in segment.ToMessages(options.MaxSegmentBytes))
    {
        messageCount++;
        var bytes = message.ToArray();
        Console.WriteLine($"  message {messageCount} ({bytes.Length} bytes): {System.Text.Encoding.UTF8.GetString(bytes)}");
        using var document = JsonDocument.Parse(bytes);
        foreach (var span in document.RootElement.GetProperty("spans").EnumerateArray())
        {
            outputSpans[span.GetProperty("span_id").GetString()!] = span.Clone();
        }
    }
}

await buffer.DoneFlushSegmentsAsync(result.Segments);

Check(messageCount == 1, $"one message written (got {messageCount})");
Check(outputSpans.Count == 3, $"exactly the 3 spans came out (got {outputSpans.Count})");
Check(
    outputSpans.TryGetValue(rootId, out var root) && root.GetProperty("is_segment").GetBoolean(),
    "the root has is_segment: true");
Check(
    childIds.All(id => outputSpans.TryGetValue(id, out var child) && !child.GetProperty("is_segment").GetBoolean()),
    "both children are in it with is_segment: false");
Check(
    outputSpans.Values.All(span => SegmentIdOf(span) == rootId),
    "every span carries sentry.segment.id = the root's span id");

var again = await buffer.FlushSegmentsAsync(flushAt + 3600);
Check(again.Segments.Count == 0, $"nothing left to flush after DoneFlushSegmentsAsync (got {again.Segments.Count})");
var server = redis.GetServers()[0];
var leftover = 0;
await foreach (var _ in server.KeysAsync(pattern: $"*{traceId}*"))
{
    leftover++;
}

Check(leftover == 0, $"no key of the trace left in Redis (got {leftover})");

if (leaveData)
{
    // Thirty-two small traces per queue namespace, every one queued and none due before its root timeout.
    foreach (var sliceId in new int?[] { null, 1, 2 })
    {
        using var left = new SpansBuffer(redis, new SpanBufferOptions { SliceId = sliceId });
        var batch = new List<Span>();
        for (var trace = 0; trace < 32; trace++)
        {
            traceId = Guid.NewGuid().ToString("N");
            var leftRoot = RandomSpanId();
            batch.Add(Span.Parse(SpanJson(leftRoot, parentId: null), partition: trace % 8));
            batch.Add(Span.Parse(SpanJson(RandomSpanId(), leftRoot), partition: trace % 8));
        }

        await left.ProcessSpansAsync(batch, now);
    }

    Console.WriteLine("  left 96 traces queued under the default prefix (shards 0-7; no slice, slices 1 and 2)");
}

if (failures.Count > 0)
{
    Console.WriteLine($"Package smoke FAILED: {failures.Count} check(s): {string.Join("; ", failures)}");
    return 1;
}

Console.WriteLine("Package smoke passed.");
return 0;

ReadOnlyMemory<byte> SpanJson(string spanId, string? parentId)
{
    var start = now - 2;
    return JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
    {
        ["organization_id"] = 1,
        ["project_id"] = ProjectId,
        ["trace_id"] = traceId,
        ["span_id"] = spanId,
        ["parent_span_id"] = parentId,
        ["is_segment"] = parentId is null,
        ["start_timestamp"] = start,
        ["end_timestamp"] = start + 1,
        ["received"] = now,
        ["retention_days"] = 90,
        ["status"] = "ok",
        ["name"] = parentId is null ? "GET /smoke" : "db.query",
    });
}

static string RandomSpanId() => Guid.NewGuid().ToString("N")[..16];

static string? SegmentIdOf(JsonElement span) =>
    span.TryGetProperty("attributes", out var attributes)
    && attributes.TryGetProperty("sentry.segment.id", out var attribute)
    && attribute.TryGetProperty("value", out var value)
        ? value.GetString()
        : null;
