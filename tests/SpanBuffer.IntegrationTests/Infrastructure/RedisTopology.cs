namespace SpanBuffer.IntegrationTests.Infrastructure;

/// <summary>The shape of the Redis deployment a fixture provides.</summary>
public enum RedisTopology
{
    /// <summary>One standalone Redis server.</summary>
    Standalone,

    /// <summary>A Redis Cluster (the fixture's own: three primaries, no replicas).</summary>
    Cluster,
}
