using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SpanBuffer;

/// <summary>
/// Reports the flusher unhealthy when its heartbeat (the last cycle that made progress, see
/// <see cref="SpanFlusher.HeartbeatAge"/>) is older than the
/// max-unhealthy time, and degraded while it asks ingest to pause. Register it with the host's health checks,
/// e.g. <c>AddCheck&lt;SpanFlusherHealthCheck&gt;("spanbuffer")</c>.
/// </summary>
/// <param name="flusher">The flusher to watch.</param>
public sealed class SpanFlusherHealthCheck(SpanFlusher flusher) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>
        {
            ["heartbeat_age_seconds"] = flusher.HeartbeatAge.TotalSeconds,
            ["soft_backpressure"] = flusher.IsSoftBackpressureActive,
            ["hard_backpressure"] = flusher.IsHardBackpressureActive,
        };
        var result = !flusher.IsHealthy
            ? HealthCheckResult.Unhealthy($"The span flusher heartbeat is {flusher.HeartbeatAge.TotalSeconds:F0} s old.", data: data)
            : flusher.ShouldPauseIngest
                ? HealthCheckResult.Degraded("The span flusher asks ingest to pause (backpressure).", data: data)
                : HealthCheckResult.Healthy(data: data);
        return Task.FromResult(result);
    }
}
