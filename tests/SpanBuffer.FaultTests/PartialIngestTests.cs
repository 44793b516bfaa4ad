using System.Globalization;
using SpanBuffer.FaultTests.Infrastructure;
using SpanBuffer.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace SpanBuffer.FaultTests;

/// <summary>
/// Redis refuses writes half-way through an ingest call (memory full, <c>noeviction</c>): ProcessSpansAsync throws
/// after some of its writes landed. The consumer replays the batch once Redis has room again; the result must be as
/// if the batch had been ingested once, with no payload set left that no member index lists (unreachable data).
/// </summary>
public abstract class PartialIngestTests : PrivateRedisTestBase
{
    [Fact]
    public async Task WritesFailMidCall_ThenReplay_EverythingDeliveredAndNoUnlistedPayloadKeys()
    {
        // What one workload batch costs each primary, measured on a throwaway prefix.
        var before = await UsedMemoryAsync();
        using (var probe = CreateBuffer(Options(NewKeyPrefix())))
        {
            await probe.ProcessSpansAsync(Workload.Load(), Workload.Now, Buffers.Token);
        }

        var after = await UsedMemoryAsync();

        var tried = new List<string>();

        // Room for a part of the batch: find a limit at which the call fails after some writes landed.
        foreach (var share in new[] { 0.6, 0.45, 0.3, 0.2, 0.1, 0.05, 0.02, 0.75, 0.9 })
        {
            var prefix = NewKeyPrefix();
            using var buffer = CreateBuffer(Options(prefix));
            var batch = Workload.Load();
            var used = await UsedMemoryAsync();
            foreach (var primary in Redis.Primaries)
            {
                var key = primary.EndPoint.ToString()!;
                var limit = used[key] + (long)(Math.Max(after[key] - before[key], 4096) * share);
                await primary.ConfigSetAsync("maxmemory-policy", "noeviction");
                await primary.ConfigSetAsync("maxmemory", limit.ToString(CultureInfo.InvariantCulture));
            }

            var failure = await Record.ExceptionAsync(() => buffer.ProcessSpansAsync(batch, Workload.Now, Buffers.Token));
            var written = await Redis.GetKeysAsync(prefix + ":*");
            foreach (var primary in Redis.Primaries)
            {
                await primary.ConfigSetAsync("maxmemory", "0");
            }

            if (failure is null || written.Count == 0)
            {
                tried.Add($"{share:P0}: {written.Count} keys, {failure?.Message ?? "no failure"}");
                continue; // all or nothing: try another limit
            }

            Assert.IsAssignableFrom<RedisException>(failure);
            Assert.Contains("OOM", failure.Message, StringComparison.Ordinal);
            TestContext.Current.SendDiagnosticMessage($"limit at {share:P0} of the batch: {written.Count} keys written before {failure.Message}");

            var ledger = new SpanLedger();
            await Buffers.IngestAsync(buffer, ledger, [batch], Workload.Now);

            var unlisted = await Buffers.UnlistedPayloadKeysAsync(Redis.Db, Redis.GetKeysAsync, prefix);
            Assert.True(unlisted.Count == 0, $"{unlisted.Count} payload keys no member index lists, e.g. {(unlisted.Count > 0 ? unlisted[0] : null)}");
            await Buffers.DrainAsync(buffer, ledger, Workload.AfterTimeout);
            ledger.AssertBalanced();
            await AssertNoKeysLeftAsync(prefix);
            return;
        }

        Assert.Fail($"No memory limit made ProcessSpansAsync fail half-way (batch cost per primary: {string.Join(", ", after.Select(a => a.Value - before[a.Key]))}). {string.Join("; ", tried)}");
    }

    private static SpanBufferOptions Options(string prefix)
    {
        var options = Buffers.Options(prefix);
        options.PipelineBatchSize = 4; // groups go out one after another, so the first ones land before memory runs out
        return options;
    }

    private async Task<Dictionary<string, long>> UsedMemoryAsync()
    {
        var used = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var primary in Redis.Primaries)
        {
            used[primary.EndPoint.ToString()!] = PrivateRedis.InfoField((string?)await primary.ExecuteAsync("INFO", "memory"), "used_memory");
        }

        return used;
    }
}

public sealed class PartialIngestTestsOnStandalone : PartialIngestTests
{
    private protected override RedisTopology Topology => RedisTopology.Standalone;
}

public sealed class PartialIngestTestsOnCluster : PartialIngestTests
{
    private protected override RedisTopology Topology => RedisTopology.Cluster;
}
