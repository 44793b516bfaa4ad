using DotNet.Testcontainers.Builders;
using Testcontainers.Redis;

namespace SpanBuffer.IntegrationTests.Infrastructure;

/// <summary>
/// One standalone Redis for the test run: <c>SPANBUFFER_TEST_REDIS</c>, else its own <c>redis-server</c>,
/// else a Testcontainers <c>redis:7.0.15</c> container.
/// </summary>
public sealed class StandaloneRedisFixture() : RedisFixture(RedisTopology.Standalone, EnvironmentVariable)
{
    public const string EnvironmentVariable = "SPANBUFFER_TEST_REDIS";

    /// <summary>Pinned to Debian's redis-server, which CI installs.</summary>
    public const string ContainerImage = "redis:7.0.15";

    private protected override async Task<string> StartServersAsync(string redisServer, CancellationToken cancellationToken)
    {
        var directory = Own(ScratchDirectory.Create());
        var server = Own(await RedisServerProcess.StartAsync(redisServer, directory.Path, clusterEnabled: false, cancellationToken));
        return server.EndPoint;
    }

    private protected override async Task<(string? ConnectionString, string? WhyNot)> TryStartContainerAsync(CancellationToken cancellationToken)
    {
        RedisContainer container;
        try
        {
            container = new RedisBuilder(ContainerImage).Build();
        }
        catch (DockerUnavailableException ex)
        {
            return (null, $"Testcontainers found no Docker engine ({ex.Message.Split('\n')[0].Trim()})");
        }

        // From here on a failure is an error (an engine answered), and the base class disposes the container.
        Own(container);
        try
        {
            await container.StartAsync(cancellationToken);
        }
        catch (DockerUnavailableException ex)
        {
            return (null, $"Testcontainers found no Docker engine ({ex.Message.Split('\n')[0].Trim()})");
        }

        return (container.GetConnectionString(), null);
    }
}
