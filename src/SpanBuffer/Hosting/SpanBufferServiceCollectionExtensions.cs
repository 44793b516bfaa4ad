using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SpanBuffer;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers SpanBuffer with a service collection.</summary>
public static class SpanBufferServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="SpansBuffer"/> and its options. Options bind from the <c>SpanBuffer</c> configuration
    /// section when an <see cref="IConfiguration"/> is registered (changes apply on the next call), then
    /// <paramref name="configure"/> runs; they are validated when the host starts. The buffer uses the registered
    /// <see cref="IConnectionMultiplexer"/>, or connects with <see cref="SpanBufferOptions.ConnectionString"/>
    /// (and disposes only a connection it created), and takes the registered <see cref="ILoggerFactory"/>,
    /// <c>IMeterFactory</c> and <see cref="TimeProvider"/> when there are any.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Code configuration applied after binding.</param>
    /// <returns>The services, for chaining.</returns>
    public static IServiceCollection AddSpanBuffer(this IServiceCollection services, Action<SpanBufferOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<SpanBufferOptions>();
        if (services.Any(d => d.ServiceType == typeof(IConfiguration)))
        {
            options.BindConfiguration(SpanBufferOptions.SectionName);
        }

        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SpanBufferOptions>, SpanBufferOptionsValidator>());
        services.TryAddSingleton<SpanBufferConnection>();
        services.TryAddSingleton(sp => new SpansBuffer(
            sp.GetRequiredService<SpanBufferConnection>().Multiplexer,
            sp.GetRequiredService<IOptionsMonitor<SpanBufferOptions>>(),
            sp.GetService<ILoggerFactory>(),
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>(),
            sp.GetService<TimeProvider>()));
        return services;
    }

    /// <summary>
    /// Registers a <see cref="SpanFlusher"/> that runs as a hosted service and hands segments to
    /// <typeparamref name="TSink"/>, plus <see cref="SpanFlusherHealthCheck"/>. Call <see cref="AddSpanBuffer"/> too.
    /// </summary>
    /// <typeparam name="TSink">The sink; registered as a singleton unless an <see cref="ISegmentSink"/> already is.</typeparam>
    /// <param name="services">The services.</param>
    /// <returns>The services, for chaining.</returns>
    public static IServiceCollection AddSpanFlusher<TSink>(this IServiceCollection services)
        where TSink : class, ISegmentSink
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<ISegmentSink, TSink>();
        services.TryAddSingleton(sp => new SpanFlusher(
            sp.GetRequiredService<SpansBuffer>(),
            sp.GetRequiredService<ISegmentSink>(),
            sp.GetService<ILoggerFactory>(),
            sp.GetService<TimeProvider>()));
        services.AddHostedService(sp => sp.GetRequiredService<SpanFlusher>());
        services.TryAddSingleton<SpanFlusherHealthCheck>();
        return services;
    }
}
