using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace SpanBuffer;

/// <summary>
/// The connection the DI-registered buffer uses: the host's <see cref="IConnectionMultiplexer"/> when one is
/// registered (never disposed here), else one created from the connection string option (disposed with the container).
/// </summary>
internal sealed class SpanBufferConnection : IDisposable
{
    private readonly ConnectionMultiplexer? _owned;

    public SpanBufferConnection(IServiceProvider services, IOptions<SpanBufferOptions> options)
    {
        if (services.GetService(typeof(IConnectionMultiplexer)) is IConnectionMultiplexer shared)
        {
            Multiplexer = shared;
            return;
        }

        var connectionString = options.Value.ConnectionString;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidOperationException(
                "SpanBuffer needs Redis: register an IConnectionMultiplexer or set SpanBuffer:ConnectionString.");
        }

        // Returns at once and keeps connecting in the background, so no start-up call blocks on the network.
        var configuration = ConfigurationOptions.Parse(connectionString);
        configuration.AbortOnConnectFail = false;
        Multiplexer = _owned = ConnectionMultiplexer.Connect(configuration);
    }

    public IConnectionMultiplexer Multiplexer { get; }

    public bool OwnsConnection => _owned is not null;

    public void Dispose() => _owned?.Dispose();
}
