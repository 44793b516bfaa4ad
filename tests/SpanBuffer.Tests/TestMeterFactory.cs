using System.Diagnostics.Metrics;

namespace SpanBuffer.Tests;

/// <summary>
/// An <see cref="IMeterFactory"/> like the one <c>AddMetrics()</c> registers: every meter it creates is scoped to
/// this factory (so listeners of one test never see another test's measurements) and disposed with it.
/// (<c>AddMetrics()</c> lives in Microsoft.Extensions.Diagnostics, which the test project does not reference.)
/// </summary>
internal sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public IReadOnlyList<Meter> Meters => _meters;

    public Meter Create(MeterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var meter = new Meter(new MeterOptions(options.Name) { Version = options.Version, Tags = options.Tags, Scope = this });
        lock (_meters)
        {
            _meters.Add(meter);
        }

        return meter;
    }

    public void Dispose()
    {
        lock (_meters)
        {
            foreach (var meter in _meters)
            {
                meter.Dispose();
            }

            _meters.Clear();
        }
    }
}
