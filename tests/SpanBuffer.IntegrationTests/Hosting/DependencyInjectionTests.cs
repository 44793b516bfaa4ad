using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Models;
using StackExchange.Redis;

namespace SpanBuffer.IntegrationTests.Hosting;

/// <summary><c>AddSpanBuffer</c> and <c>AddSpanFlusher</c>: resolution, a real host, validation at start, configuration binding and reload, connection ownership.</summary>
public abstract class DependencyInjectionTests(RedisFixture fixture) : HostingTestBase(fixture)
{
    private static long WallNow => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    [Fact]
    public async Task AddSpanBuffer_WithRegisteredMultiplexer_ResolvesABufferThatUsesItAndTheConfiguredOptions()
    {
        var prefix = NewKeyPrefix();
        var services = new ServiceCollection();
        services.AddSingleton(Redis);
        services.AddSpanBuffer(options => options.KeyPrefix = prefix);
        await using var provider = services.BuildServiceProvider();

        var buffer = provider.GetRequiredService<SpansBuffer>();
        var segment = TestSegment.Create();
        await buffer.ProcessSpansAsync(segment.Spans, WallNow, Ct);

        Assert.Same(buffer, provider.GetRequiredService<SpansBuffer>());
        Assert.Equal([segment.SegmentKey(prefix)], await QueueMembersAsync(prefix));
        var flushed = await buffer.FlushSegmentsAsync(WallNow + 60, Ct);
        await buffer.DoneFlushSegmentsAsync(flushed.Segments, Ct);
        Assert.Equal(segment.SpanIds.Order(), Assert.Single(flushed.Segments).Spans.Select(span => span.SpanId).Order());
        Assert.Empty(await KeysAsync(prefix));
    }

    [Fact]
    public async Task AddSpanFlusher_InARealHost_RunsAsHostedServiceAndFlushesWithTheRegisteredSinkType()
    {
        var prefix = NewKeyPrefix();
        var recording = new RecordingSink();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(Redis);
        builder.Services.AddSingleton(recording);
        builder.Services.AddSpanBuffer(options => options.KeyPrefix = prefix);
        builder.Services.AddSpanFlusher<ForwardingSink>();
        using var host = builder.Build();
        var segment = TestSegment.Create();
        await host.Services.GetRequiredService<SpansBuffer>().ProcessSpansAsync(segment.Spans, WallNow - 120, Ct);

        await host.StartAsync(Ct);
        var message = await recording.NextDeliveryAsync();
        await host.StopAsync(Ct);

        Assert.Equal(segment.SpanIds.Order(), message.Spans.Select(span => span.SpanId).Order());
        Assert.Empty(await KeysAsync(prefix));
        var flusher = host.Services.GetRequiredService<SpanFlusher>();
        Assert.IsType<ForwardingSink>(host.Services.GetRequiredService<ISegmentSink>());
        Assert.Contains(host.Services.GetServices<IHostedService>(), service => ReferenceEquals(service, flusher));
        Assert.True(flusher.ExecuteTask!.IsCompletedSuccessfully);
        Assert.Equal(1, flusher.Statistics.SegmentsProduced);
        var health = await host.Services.GetRequiredService<SpanFlusherHealthCheck>().CheckHealthAsync(new HealthCheckContext(), Ct);
        Assert.Equal(HealthStatus.Healthy, health.Status);
    }

    [Theory]
    [InlineData("KeyPrefix", "a{b")]
    [InlineData("RootTimeout", "00:02:00")]
    [InlineData("MaxMemoryRatio", "1.5")]
    [InlineData("FlushLockTtl", "00:00:01.500")]
    [InlineData("FlushInterval", "00:00:00")]
    public async Task Host_InvalidOptionInConfiguration_StartThrowsNamingTheOption(string option, string value)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [$"SpanBuffer:{option}"] = value });
        builder.Services.AddSingleton(Redis);
        builder.Services.AddSpanBuffer();
        builder.Services.AddSpanFlusher<RecordingSink>();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        Assert.Equal(typeof(SpanBufferOptions), error.OptionsType);
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Host_InvalidOptionInCode_StartThrowsNamingTheOption()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(Redis);
        builder.Services.AddSpanBuffer(options => options.RootTimeout = options.Timeout + TimeSpan.FromSeconds(1));
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        Assert.Contains("RootTimeout", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Host_NoConnection_StartThrowsSayingHowToProvideOne()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSpanBuffer(options => options.KeyPrefix = NewKeyPrefix());
        builder.Services.AddSpanFlusher<RecordingSink>();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Contains("ConnectionString", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Host_OptionsFromConfiguration_AreBoundAndReloadedChangesApplyToTheNextCall()
    {
        var first = NewKeyPrefix();
        var second = NewKeyPrefix();
        const int shard = 2;
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SpanBuffer:KeyPrefix"] = first,
            ["SpanBuffer:Timeout"] = "00:00:30",
            ["SpanBuffer:RootTimeout"] = "00:00:05",
            ["SpanBuffer:MaxFlushSegments"] = "7",
            ["SpanBuffer:AssignedShards:0"] = "2",
            ["SpanBuffer:AssignedShards:1"] = "5",
        });
        builder.Services.AddSingleton(Redis);
        builder.Services.AddSpanBuffer();
        using var host = builder.Build();
        await host.StartAsync(Ct);
        var monitor = host.Services.GetRequiredService<IOptionsMonitor<SpanBufferOptions>>();
        var configuration = (IConfigurationRoot)host.Services.GetRequiredService<IConfiguration>();
        var buffer = host.Services.GetRequiredService<SpansBuffer>();

        var bound = monitor.CurrentValue;
        Assert.Equal(first, bound.KeyPrefix);
        Assert.Equal(TimeSpan.FromSeconds(30), bound.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(5), bound.RootTimeout);
        Assert.Equal(7, bound.MaxFlushSegments);
        Assert.Equal([2, 5], bound.AssignedShards);

        var now = WallNow;
        var underFirst = TestSegment.Create(partition: shard);
        await buffer.ProcessSpansAsync(underFirst.Spans, now, Ct);
        Assert.Equal([underFirst.SegmentKey(first)], await QueueMembersAsync(first, shard));
        Assert.Equal<double?>(now + 5, await Db.SortedSetScoreAsync(QueueKey(first, shard), underFirst.SegmentKey(first)));
        var keysUnderFirst = await KeysAsync(first);

        // A reloaded key prefix applies to the next call, without a restart.
        configuration["SpanBuffer:KeyPrefix"] = second;
        configuration.Reload();
        var underSecond = TestSegment.Create(partition: shard);
        await buffer.ProcessSpansAsync(underSecond.Spans, now, Ct);

        Assert.Equal(second, monitor.CurrentValue.KeyPrefix);
        Assert.Equal([underSecond.SegmentKey(second)], await QueueMembersAsync(second, shard));
        Assert.Equal(keysUnderFirst, await KeysAsync(first));
        var flushed = await buffer.FlushSegmentsAsync(now + 60, Ct);
        Assert.Equal(underSecond.SegmentKey(second), Assert.Single(flushed.Segments).SegmentKey);
        await buffer.DoneFlushSegmentsAsync(flushed.Segments, Ct);
        Assert.Empty(await KeysAsync(second));

        // An invalid reloaded value fails the next call and writes nothing; fixing it recovers. (The options monitor
        // re-creates the options inside the reload callback, so Reload itself also throws the validation error.)
        configuration["SpanBuffer:KeyPrefix"] = "a{b";
        Assert.IsType<AggregateException>(Record.Exception(configuration.Reload));
        var invalid = await Assert.ThrowsAsync<OptionsValidationException>(() => buffer.ProcessSpansAsync(TestSegment.Create().Spans, now, Ct));
        Assert.Contains("KeyPrefix", invalid.Message, StringComparison.Ordinal);

        configuration["SpanBuffer:KeyPrefix"] = first;
        configuration.Reload();
        flushed = await buffer.FlushSegmentsAsync(now + 60, Ct);
        Assert.Equal(underFirst.SegmentKey(first), Assert.Single(flushed.Segments).SegmentKey);
        await buffer.DoneFlushSegmentsAsync(flushed.Segments, Ct);
        Assert.Empty(await KeysAsync(first));
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task AddSpanBuffer_ConnectionString_CreatesAConnectionThatTheProviderDisposes()
    {
        var prefix = NewKeyPrefix();
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["SpanBuffer:ConnectionString"] = Fixture.ConnectionString,
                ["SpanBuffer:KeyPrefix"] = prefix,
            })
            .Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSpanBuffer();
        var provider = services.BuildServiceProvider();
        var connection = provider.GetRequiredService<SpanBufferConnection>();
        var buffer = provider.GetRequiredService<SpansBuffer>();
        var segment = TestSegment.Create();
        await buffer.ProcessSpansAsync(segment.Spans, WallNow, Ct);

        Assert.True(connection.OwnsConnection);
        Assert.NotSame(Redis, connection.Multiplexer);
        Assert.Equal([segment.SegmentKey(prefix)], await QueueMembersAsync(prefix));

        var created = connection.Multiplexer;
        await provider.DisposeAsync();

        Assert.False(created.IsConnected);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => created.GetDatabase().PingAsync());
        await DeleteKeysAsync(prefix);
    }

    [Fact]
    public async Task AddSpanBuffer_RegisteredMultiplexer_IsNotDisposedWithTheProvider()
    {
        var prefix = NewKeyPrefix();
        await using var shared = await ConnectionMultiplexer.ConnectAsync(Fixture.ConnectionString);
        var services = new ServiceCollection();
        services.AddSingleton<IConnectionMultiplexer>(shared);
        services.AddSpanBuffer(options =>
        {
            options.KeyPrefix = prefix;
            options.ConnectionString = "unused.invalid:6379";
        });
        var provider = services.BuildServiceProvider();
        var connection = provider.GetRequiredService<SpanBufferConnection>();
        await provider.GetRequiredService<SpansBuffer>().ProcessSpansAsync(TestSegment.Create().Spans, WallNow, Ct);

        await provider.DisposeAsync();

        Assert.False(connection.OwnsConnection);
        Assert.Same(shared, connection.Multiplexer);
        Assert.True(shared.IsConnected);
        await shared.GetDatabase().PingAsync();
        await DeleteKeysAsync(prefix);
    }

    /// <summary>A sink type that DI constructs (with a dependency), forwarding to the test's recording sink.</summary>
    public sealed class ForwardingSink(RecordingSink inner) : ISegmentSink
    {
        public Task ProduceAsync(SegmentMessage message, CancellationToken cancellationToken) => inner.ProduceAsync(message, cancellationToken);
    }
}

public sealed class DependencyInjectionTestsOnStandalone(StandaloneRedisFixture fixture) : DependencyInjectionTests(fixture);

public sealed class DependencyInjectionTestsOnCluster(ClusterRedisFixture fixture) : DependencyInjectionTests(fixture);
