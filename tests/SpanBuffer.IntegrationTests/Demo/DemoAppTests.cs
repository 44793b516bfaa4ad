using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using SpanBuffer.Demo;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.IntegrationTests.Demo;

/// <summary>The README's main command, run in-process against the fixture's Redis, end to end.</summary>
public abstract partial class DemoAppTests(RedisFixture fixture) : RedisTestBase(fixture)
{
    private readonly string _directory = Directory.CreateTempSubdirectory("spanbuffer-demo-test-").FullName;

    private string OutputPath => Path.Combine(_directory, "segments.jsonl");

    public override async ValueTask DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true);
        await base.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task RunAsync_GeneratedWorkload_EverySpanOutExactlyOnceAndAccountsClose()
    {
        var prefix = NewKeyPrefix();
        var workload = new WorkloadSettings { Traces = 150, Seed = 7 };
        var expected = DemoRun.SpanIdsOf(WorkloadGenerator.Generate(workload));

        var run = await DemoRun.StartAsync(OutputPath, Args(prefix, "--traces", "150", "--seed", "7", "--shards", "3", "--batch-size", "200"));

        Assert.True(run.ExitCode == 0, run.Printed);
        Assert.Contains($"accounts: closed (spans ingested {expected.Count} = spans out {expected.Count} + spans lost 0)", run.Stdout, StringComparison.Ordinal);
        AssertEverySpanOnce(expected, run.ReadMessages(), run);
        await AssertOnlyHasRootFlagsRemainAsync(prefix);
    }

    [Fact]
    public async Task RunAsync_JsonlWithMalformedLines_RejectsThemAndAccountsClose()
    {
        var prefix = NewKeyPrefix();
        var valid = WorkloadGenerator.Generate(new WorkloadSettings { Traces = 80, Seed = 3 }).ToList();
        var input = Path.Combine(_directory, "spans.jsonl");
        var lines = valid.Select(Encoding.UTF8.GetString).ToList();
        lines.Insert(9, "this is not json");
        lines.Insert(19, """{"trace_id":"0123456789abcdef0123456789abcdef","span_id":"0123456789abcdef"}""");
        lines.Insert(29, "");
        await File.WriteAllLinesAsync(input, lines, TestContext.Current.CancellationToken);

        var run = await DemoRun.StartAsync(OutputPath, Args(prefix, "--input", input, "--batch-size", "100"));

        Assert.True(run.ExitCode == 0, run.Printed);
        Assert.Matches(SummaryRow("spans read", valid.Count + 2), run.Stdout);
        Assert.Matches(SummaryRow("rejected lines", 2), run.Stdout);
        Assert.Contains("rejected line 10:", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("rejected line 20:", run.Stderr, StringComparison.Ordinal);
        Assert.Contains($"accounts: closed (spans ingested {valid.Count} = spans out {valid.Count} + spans lost 0)", run.Stdout, StringComparison.Ordinal);
        AssertEverySpanOnce(DemoRun.SpanIdsOf(valid), run.ReadMessages(), run);
        await AssertOnlyHasRootFlagsRemainAsync(prefix);
    }

    [Fact]
    public async Task RunAsync_SmallMaxSegmentBytes_DetachesAndChunksLargeSegmentsAndAccountsClose()
    {
        var prefix = NewKeyPrefix();
        var valid = WorkloadGenerator.Generate(new WorkloadSettings { Traces = 60, Seed = 5, LargeEvery = 20, LargeSize = 120 }).ToList();
        var input = Path.Combine(_directory, "spans.jsonl");
        await File.WriteAllLinesAsync(input, valid.Select(Encoding.UTF8.GetString), TestContext.Current.CancellationToken);

        var run = await DemoRun.StartAsync(OutputPath, Args(prefix, "--input", input, "--batch-size", "100", "--shards", "2", "--SpanBuffer:MaxSegmentBytes=20000"));

        Assert.True(run.ExitCode == 0, run.Printed);
        Assert.Contains($"accounts: closed (spans ingested {valid.Count} = spans out {valid.Count} + spans lost 0)", run.Stdout, StringComparison.Ordinal);
        var messages = run.ReadMessages();
        AssertEverySpanOnce(DemoRun.SpanIdsOf(valid), messages, run);

        // A detached segment is keyed by its 32-hex salt, which becomes the spans' segment id.
        Assert.Contains(messages, m => m.Spans.Any(s => s.SegmentId.Length == 32));
        Assert.Contains(messages, m => m.SkipEnrichment);
        await AssertOnlyHasRootFlagsRemainAsync(prefix);
    }

    [Fact]
    public async Task RunAsync_KeysAlreadyUnderPrefix_RefusesWithUsageExitCode()
    {
        var prefix = NewKeyPrefix();
        await Db.StringSetAsync($"{prefix}:q:0", "someone else's", TimeSpan.FromMinutes(5));

        var run = await DemoRun.StartAsync(OutputPath, Args(prefix, "--traces", "5"));

        Assert.True(run.ExitCode == DemoApp.ExitUsage, run.Printed);
        Assert.Contains($"already holds keys under the prefix '{prefix}'", run.Stderr, StringComparison.Ordinal);
        Assert.Equal([$"{prefix}:q:0"], await Fixture.GetKeysAsync($"{prefix}:*"));
    }

    private string[] Args(string prefix, params string[] more) =>
        ["--redis", Fixture.ConnectionString, $"--SpanBuffer:KeyPrefix={prefix}", .. more];

    private static Regex SummaryRow(string name, long value) =>
        new($@"(?m)^\s+{Regex.Escape(name)}:\s+{value}\b");

    private static void AssertEverySpanOnce(IReadOnlyList<string> expected, IReadOnlyList<OutputMessage> messages, DemoRun run)
    {
        var produced = messages.SelectMany(m => m.Spans).Select(s => s.SpanId).ToList();
        var duplicates = produced.GroupBy(id => id).Where(g => g.Count() > 1).Select(g => g.Key).Take(5).ToList();
        Assert.True(duplicates.Count == 0, $"Produced more than once: {string.Join(", ", duplicates)}{Environment.NewLine}{run.Printed}");
        Assert.Equal(expected.Order(StringComparer.Ordinal), produced.Order(StringComparer.Ordinal));
        Assert.Matches(SummaryRow("messages", messages.Count), run.Stdout);
    }

    private async Task AssertOnlyHasRootFlagsRemainAsync(string prefix)
    {
        var left = (await Fixture.GetKeysAsync($"{prefix}:*")).Where(key => !key.StartsWith($"{prefix}:hrs:", StringComparison.Ordinal)).ToList();
        Assert.True(left.Count == 0, $"Keys left under {prefix}: {string.Join(", ", left.Take(10))}");
    }
}

public sealed class DemoAppTestsOnStandalone(StandaloneRedisFixture fixture) : DemoAppTests(fixture);

public sealed class DemoAppTestsOnCluster(ClusterRedisFixture fixture) : DemoAppTests(fixture);

/// <summary>The demo's own Redis and its command-line errors: no fixture needed.</summary>
public sealed partial class DemoCommandLineTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("spanbuffer-demo-test-").FullName;

    private string OutputPath => Path.Combine(_directory, "segments.jsonl");

    public void Dispose()
    {
        Directory.Delete(_directory, recursive: true);
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task RunAsync_NoRedisFlag_StartsItsOwnRedisServerAndStopsIt()
    {
        if (LocalRedisPath() is null)
        {
            Assert.Skip("redis-server is not on PATH (apt-get install redis-server).");
        }

        var run = await DemoRun.StartAsync(OutputPath, "--traces", "20", "--shards", "2");

        Assert.True(run.ExitCode == 0, run.Printed);
        Assert.Contains("accounts: closed", run.Stdout, StringComparison.Ordinal);
        var started = StartedServer().Match(run.Stderr);
        Assert.True(started.Success, run.Printed);
        var pid = int.Parse(started.Groups["pid"].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.False(IsRunning(pid), $"redis-server {pid} is still running.");
        Assert.False(Directory.Exists(started.Groups["dir"].Value), "The redis-server directory was not deleted.");
    }

    [Theory]
    [InlineData("--bogus", "1")]
    [InlineData("--bogus")]
    [InlineData("--input", "/nonexistent/spans.jsonl")]
    [InlineData("--batch-size", "0")]
    [InlineData("--shards", "many")]
    [InlineData("--SpanBuffer:NoSuchOption=1")]
    [InlineData("--SpanBuffer:MaxSegmentBytes=big")]
    [InlineData("--SpanBuffer:AssignedShards:0=1")]
    [InlineData("positional")]
    [InlineData("--now")]
    public async Task RunAsync_InvalidCommandLine_ExitsWithUsageCode(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        var exitCode = await DemoApp.RunAsync(args, stdout, stderr, TestContext.Current.CancellationToken);

        Assert.Equal(DemoApp.ExitUsage, exitCode);
        Assert.StartsWith("error: ", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains("Usage:", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_InvalidOptionValue_ExitsWithUsageCodeBeforeIngesting()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        // Valid syntax, but rejected by the options validator: a root timeout above the timeout.
        var exitCode = await DemoApp.RunAsync(
            ["--redis", "127.0.0.1:1", "--SpanBuffer:RootTimeout=00:02:00"], stdout, stderr, TestContext.Current.CancellationToken);

        Assert.Equal(DemoApp.ExitUsage, exitCode);
        Assert.Contains("RootTimeout", stderr.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Could not connect", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_Help_PrintsUsage()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        var exitCode = await DemoApp.RunAsync(["--help"], stdout, stderr, TestContext.Current.CancellationToken);

        Assert.Equal(0, exitCode);
        Assert.Contains("--SpanBuffer:NAME=VALUE", stdout.ToString(), StringComparison.Ordinal);
    }

    private static string? LocalRedisPath() =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, "redis-server"))
            .FirstOrDefault(File.Exists);

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"Started redis-server \(pid (?<pid>\d+), directory (?<dir>[^)]+)\)")]
    private static partial Regex StartedServer();
}
