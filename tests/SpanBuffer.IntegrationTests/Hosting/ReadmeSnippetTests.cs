using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;
using StackExchange.Redis;

namespace SpanBuffer.IntegrationTests.Hosting;

/// <summary>
/// The README's quick-start code, compiled and run on both topologies. The regions between the
/// <c>// README: … begin</c> and <c>// README: … end</c> comments are copied into the README verbatim; the lines
/// before a region only point it at the test Redis (the README uses "localhost:6379" and the default prefix).
/// </summary>
public abstract class ReadmeSnippetTests(RedisFixture fixture) : HostingTestBase(fixture)
{
#pragma warning disable xUnit1051 // README code: no test cancellation token
    [Fact]
    public async Task PlainConstructor()
    {
        var connectionString = Fixture.ConnectionString;
        var keyPrefix = NewKeyPrefix();

        // README: plain-constructor begin
        await using var redis = await ConnectionMultiplexer.ConnectAsync(connectionString);
        var options = new SpanBufferOptions { KeyPrefix = keyPrefix };
        using var buffer = new SpansBuffer(redis, options);

        // Ingest a batch of consumed messages; `now` is the batch's oldest message timestamp (Unix seconds).
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Span[] spans =
        [
            Span.Parse("""{"organization_id":1,"project_id":42,"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"a000000000000001","is_segment":true,"start_timestamp":1700000000.0,"end_timestamp":1700000001.5,"received":1700000002.0,"retention_days":90,"status":"ok"}"""u8.ToArray()),
            Span.Parse("""{"organization_id":1,"project_id":42,"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"b000000000000002","parent_span_id":"a000000000000001","start_timestamp":1700000000.2,"end_timestamp":1700000001.0,"received":1700000002.0,"retention_days":90,"status":"ok"}"""u8.ToArray()),
        ];
        await buffer.ProcessSpansAsync(spans, now);

        // Flush the segments whose deadline has passed (a segment with its root waits RootTimeout, 10 s by default).
        var flush = await buffer.FlushSegmentsAsync(now + 60);
        var produced = new List<byte[]>(); // stands in for your Kafka producer
        foreach (var segment in flush.Segments)
        {
            foreach (var message in segment.ToMessages(options.MaxSegmentBytes))
            {
                produced.Add(message.ToArray()); // {"flush_id":"…","spans":[…]}
            }
        }

        // Clean up only once every message is acknowledged: delivery is at-least-once.
        await buffer.DoneFlushSegmentsAsync(flush.Segments);
        // README: plain-constructor end

        var delivered = Assert.Single(produced);
        using var json = JsonDocument.Parse(delivered);
        var output = json.RootElement.GetProperty("spans").EnumerateArray().ToList();
        Assert.Equal(["a000000000000001", "b000000000000002"], output.Select(span => span.GetProperty("span_id").GetString()).Order());
        Assert.All(output, span => Assert.Equal(
            "a000000000000001",
            span.GetProperty("attributes").GetProperty("sentry.segment.id").GetProperty("value").GetString()));
        Assert.Empty(await KeysAsync(keyPrefix));
    }

    [Fact]
    public async Task DependencyInjection()
    {
        var connectionString = Fixture.ConnectionString;
        var keyPrefix = NewKeyPrefix();

        // README: di begin
        var builder = Host.CreateApplicationBuilder(); // options also bind from the "SpanBuffer" configuration section
        builder.Services.AddSpanBuffer(options =>
        {
            options.ConnectionString = connectionString;
            options.KeyPrefix = keyPrefix;
            options.RootTimeout = TimeSpan.FromSeconds(1); // flush the demo segment quickly
        });
        var output = Channel.CreateUnbounded<byte[]>();
        builder.Services.AddSingleton(output);
        builder.Services.AddSpanFlusher<MySink>();
        using var host = builder.Build();
        await host.StartAsync();

        // Your consumer ingests; the hosted flusher flushes due segments, hands them to MySink, then cleans up.
        var buffer = host.Services.GetRequiredService<SpansBuffer>();
        var span = Span.Parse("""{"organization_id":1,"project_id":42,"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"a000000000000001","start_timestamp":1700000000.0,"end_timestamp":1700000001.5,"received":1700000002.0,"retention_days":90,"status":"ok"}"""u8.ToArray());
        await buffer.ProcessSpansAsync([span], DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        // README: di end

        var delivered = await output.Reader.ReadAsync(Ct).AsTask().WaitAsync(WaitTimeout, Ct);
        await host.StopAsync(Ct);

        Assert.Contains("\"span_id\":\"a000000000000001\"", Encoding.UTF8.GetString(delivered), StringComparison.Ordinal);
        Assert.Empty(await KeysAsync(keyPrefix));
    }
#pragma warning restore xUnit1051

    // README: di-sink begin
    /// <summary>Hands each segment message to your producer; the task completes once delivery is acknowledged.</summary>
    public sealed class MySink(Channel<byte[]> output) : ISegmentSink
    {
        public async Task ProduceAsync(SegmentMessage message, CancellationToken cancellationToken) =>
            await output.Writer.WriteAsync(message.ToArray(), cancellationToken); // e.g. await a Kafka producer's ProduceAsync
    }
    // README: di-sink end
}

public sealed class ReadmeSnippetTestsOnStandalone(StandaloneRedisFixture fixture) : ReadmeSnippetTests(fixture);

public sealed class ReadmeSnippetTestsOnCluster(ClusterRedisFixture fixture) : ReadmeSnippetTests(fixture);
