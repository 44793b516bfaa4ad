using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.Tool.Tests;

/// <summary>Usage errors need no Redis: exit code 2 and a message that names the problem.</summary>
public sealed class UsageTests
{
    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await ToolApp.RunAsync(args, stdout, stderr, TimeProvider.System, TestContext.Current.CancellationToken);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [InlineData(new string[0], "no command given")]
    [InlineData(new[] { "explode", "--redis", "localhost:1" }, "unknown command 'explode'")]
    [InlineData(new[] { "inspect" }, "--redis CONNECTION is required")]
    [InlineData(new[] { "inspect", "--redis", "localhost:1", "--colour" }, "unknown option '--colour'")]
    [InlineData(new[] { "inspect", "--redis", "localhost:1", "--shards", "zero" }, "--shards 'zero' is not a whole number")]
    [InlineData(new[] { "inspect", "--redis", "localhost:1", "--prefix", "a:b" }, "is not a key prefix")]
    [InlineData(new[] { "drain", "--redis", "localhost:1" }, "drain needs the shards")]
    [InlineData(new[] { "inspect", "--redis", "localhost:1", "--fix" }, "--fix is an option of 'check'")]
    [InlineData(new[] { "watch", "--redis", "localhost:1", "--interval" }, "--interval needs a value")]
    public async Task BadUsage_ExitsWithTwoAndSaysWhy(string[] args, string message)
    {
        var (exit, _, stderr) = await RunAsync(args);

        Assert.Equal(2, exit);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.Contains("spanbuffer COMMAND --redis CONNECTION", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_PrintsUsageAndExitsWithZero()
    {
        var (exit, stdout, _) = await RunAsync("--help");

        Assert.Equal(0, exit);
        Assert.Contains("spanbuffer COMMAND", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NothingListening_ExitsWithTwoAndNamesTheAddress()
    {
        var port = FreePorts.Next(withClusterBusPort: false);

        var (exit, _, stderr) = await RunAsync("inspect", "--redis", $"127.0.0.1:{port}", "--connect-timeout", "1000");

        Assert.Equal(2, exit);
        Assert.Contains($"could not connect to Redis at 127.0.0.1:{port}", stderr, StringComparison.Ordinal);
    }
}

public abstract class ConnectionErrorTests(RedisFixture fixture) : ToolTestBase(fixture)
{
    [Theory]
    [InlineData("inspect")]
    [InlineData("check")]
    public async Task WrongPrefix_ExitsWithOneAndSaysNoKeysAreUnderIt(string command)
    {
        using (var buffer = NewBuffer())
        {
            await buffer.ProcessSpansAsync(Segment(NewTrace(), 0, 1), Now, Token);
        }

        var run = await RunRawAsync([command, "--redis", Fixture.ConnectionString, "--prefix", Prefix + "-typo"]);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains($"no keys under the prefix '{Prefix}-typo:'", run.Stderr, StringComparison.Ordinal);
    }
}

public sealed class ConnectionErrorTestsOnStandalone(StandaloneRedisFixture fixture) : ConnectionErrorTests(fixture);

public sealed class ConnectionErrorTestsOnCluster(ClusterRedisFixture fixture) : ConnectionErrorTests(fixture)
{
    [Fact]
    public async Task ClusterNodeSeenAsStandalone_ExitsWithTwoAndSaysSo()
    {
        // Without the CLUSTER command the client cannot discover the cluster and takes the seed for a standalone server.
        var seed = Fixture.ConnectionString.Split(',')[0];

        var run = await RunRawAsync(["inspect", "--redis", seed + ",$CLUSTER=", "--prefix", Prefix]);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("Redis Cluster", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("standalone", run.Stderr, StringComparison.Ordinal);
    }
}
