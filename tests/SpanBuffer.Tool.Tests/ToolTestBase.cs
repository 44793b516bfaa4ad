using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.IntegrationTests.Ingest;
using SpanBuffer.Redis;
using StackExchange.Redis;
using Span = SpanBuffer.Models.Span;

namespace SpanBuffer.Tool.Tests;

/// <summary>What one in-process run of the tool returned and printed.</summary>
public sealed record ToolRun(int ExitCode, string Stdout, string Stderr)
{
    public JsonElement Json() => JsonDocument.Parse(Stdout).RootElement;

    public override string ToString() => $"exit {ExitCode}{Environment.NewLine}stdout:{Environment.NewLine}{Stdout}{Environment.NewLine}stderr:{Environment.NewLine}{Stderr}";
}

/// <summary>Runs <c>spanbuffer</c> in-process against the fixture's Redis, with its own key prefix and a fake clock.</summary>
public abstract class ToolTestBase : RedisTestBase
{
    /// <summary>The tool's clock: fixed, so due counts and lags are exact.</summary>
    protected const long Now = 1_700_000_000;

    protected ToolTestBase(RedisFixture fixture)
        : base(fixture)
    {
        Prefix = NewKeyPrefix(GetType().Name);
        Keys = new KeySchema(Prefix);
    }

    protected string Prefix { get; }

    internal KeySchema Keys { get; }

    protected FakeTimeProvider Time { get; } = new(DateTimeOffset.FromUnixTimeSeconds(Now));

    protected static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>Runs the tool with <c>--redis</c> (the fixture's connection string, without allowAdmin) and <c>--prefix</c>.</summary>
    protected Task<ToolRun> RunAsync(params string[] args) =>
        RunRawAsync([.. args.Take(1), "--redis", Fixture.ConnectionString, "--prefix", Prefix, "--scan-delay", "0", .. args.Skip(1)]);

    internal async Task<ToolRun> RunRawAsync(string[] args, ToolHooks? hooks = null, CancellationToken? cancellationToken = null)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await ToolApp.RunAsync(args, stdout, stderr, Time, hooks ?? ToolHooks.None, cancellationToken ?? Token);
        return new ToolRun(exit, stdout.ToString(), stderr.ToString());
    }

    protected SpansBuffer NewBuffer(params int[] shards) => new(Redis, new SpanBufferOptions { KeyPrefix = Prefix, AssignedShards = shards.Length > 0 ? shards : [0, 1] });

    /// <summary>A segment of one root and <paramref name="children"/> children on <paramref name="partition"/>, payloads of <paramref name="bytes"/> bytes.</summary>
    protected static List<Span> Segment(string traceId, int partition, int children, int bytes = 40, bool withRoot = true, string rootId = "a000000000000000")
    {
        var spans = new List<Span>();
        if (withRoot)
        {
            spans.Add(SpanFactory.Root(rootId, bytes, traceId, partition: partition));
        }

        for (var i = 1; i <= children; i++)
        {
            spans.Add(SpanFactory.Child($"{i:x16}", rootId, bytes, traceId, partition: partition));
        }

        return spans;
    }

    protected static string NewTrace() => Guid.NewGuid().ToString("N");

    internal string SegmentKeyOf(string traceId, string rootId = "a000000000000000") =>
        Keys.SegmentKey(KeySchema.ProjectAndTrace(SpanFactory.ProjectId, traceId), rootId);

    protected async Task<Dictionary<string, long>> KeysWithTtlAsync()
    {
        var keys = await Fixture.GetKeysAsync(Prefix + ":*");
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            result[key] = (long)await Db.ExecuteAsync("PTTL", (RedisKey)key);
        }

        return result;
    }
}
