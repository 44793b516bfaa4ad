using SpanBuffer.Ingest;
using SpanBuffer.Models;
using SpanBuffer.Redis;
using StackExchange.Redis;
using static SpanBuffer.Tests.TestSpans;

namespace SpanBuffer.Tests;

public sealed class AddBufferScriptTests
{
    private const string SegmentKeyText = "span-buf:s:{1:" + Trace + "}:bbbbbbbbbbbbbbbb";

    private static Subsegment CreateSubsegment(params Span[] spans)
    {
        var tree = new SpanTree(1, Trace, Id('b'));
        tree.Spans.AddRange(spans);
        return Assert.Single(Subsegment.Build([tree], 0));
    }

    private static RedisResult Integer(long value) => RedisResult.Create(value, ResultType.Integer);

    private static RedisResult Bulk(string? value) => RedisResult.Create(value is null ? RedisValue.Null : (RedisValue)value, ResultType.BulkString);

    private static RedisResult Array(params RedisResult[] items) => RedisResult.Create(items);

    private static RedisResult Reply(string key, long hasRoot, long detach, params string[] merged) =>
        Array(Bulk(key), Integer(hasRoot), Integer(detach), Array([.. merged.Select(m => Bulk(m))]));

    [Fact]
    public void CreateKeys_Subsegment_IsTheBareProjectAndTrace()
    {
        var keys = AddBufferScript.CreateKeys(CreateSubsegment(Create('a', 'b')));

        var key = Assert.Single(keys);
        Assert.Equal("1:" + Trace, (string?)key);
        Assert.DoesNotContain('{', (string?)key ?? "{");
    }

    [Fact]
    public void CreateArguments_ChunkWithoutRoot_MapsEveryPositionOfTheScriptHeader()
    {
        var subsegment = CreateSubsegment(Create('a', 'b', payload: "{\"x\":1}"), Create('c', 'b', payload: "{\"y\":22}"));

        var arguments = AddBufferScript.CreateArguments(subsegment, new AddBufferSettings("my-prefix", 3600, 10485760, CheckFlushLock: true));

        // ARGV[1] prefix, [2] num spans, [3] parent, [4] has segment span, [5] ttl, [6] bytes, [7] max bytes,
        // [8] salt, [9] check flush lock, [10..] span ids.
        string?[] expected =
        [
            "my-prefix", "2", Id('b'), "false", "3600", "15", "10485760",
            SaltHasher.Compute(Id('a'), Id('c')), "true", Id('a'), Id('c'),
        ];
        Assert.Equal(expected, arguments.Select(v => (string?)v));
    }

    [Fact]
    public void CreateArguments_ChunkWithRootAndNoLockCheck_PassesTrueAndFalse()
    {
        var subsegment = CreateSubsegment(Create('a', 'b', payload: "{}"), Create('b', null, payload: "{\"r\":1}"));

        var arguments = AddBufferScript.CreateArguments(subsegment, new AddBufferSettings("span-buf", 60, 0, CheckFlushLock: false));

        string?[] expected =
        [
            "span-buf", "2", Id('b'), "true", "60", "9", "0",
            "3106330ede3673ae78e9b017358c794a", "false", Id('a'), Id('b'),
        ];
        Assert.Equal(expected, arguments.Select(v => (string?)v));
    }

    [Fact]
    public void CreateArguments_NumericPositions_AreIntegers()
    {
        var arguments = AddBufferScript.CreateArguments(CreateSubsegment(Create('a', 'b')), new AddBufferSettings("p", 3600, 99, false));

        Assert.Equal(1, (long)arguments[1]);
        Assert.Equal(3600, (long)arguments[4]);
        Assert.Equal(99, (long)arguments[6]);
    }

    [Fact]
    public void ParseResult_FullReply_MapsEveryField()
    {
        var result = AddBufferScript.ParseResult(Reply(SegmentKeyText, 1, 2, Id('c'), Id('d')));

        Assert.Equal(SegmentKeyText, result.SegmentKey);
        Assert.True(result.HasRootSpan);
        Assert.Equal(DetachReason.FlushLocked, result.DetachReason);
        Assert.True(result.IsDetached);
        Assert.Equal([Id('c'), Id('d')], result.MergedRoots);
    }

    [Theory]
    [InlineData(0, nameof(DetachReason.None), false)]
    [InlineData(1, nameof(DetachReason.TooLarge), true)]
    [InlineData(2, nameof(DetachReason.FlushLocked), true)]
    public void ParseResult_DetachCodes_MapToReasons(long code, string reason, bool detached)
    {
        var result = AddBufferScript.ParseResult(Reply(SegmentKeyText, 0, code));

        Assert.Equal(reason, result.DetachReason.ToString());
        Assert.Equal(detached, result.IsDetached);
        Assert.False(result.HasRootSpan);
    }

    [Fact]
    public void ParseResult_EmptyMergedList_GivesNoMergedRoots()
    {
        var result = AddBufferScript.ParseResult(Reply(SegmentKeyText, 0, 0));

        Assert.Empty(result.MergedRoots);
        Assert.False(result.IsDetached);
    }

    public static TheoryData<string> MalformedReplies => new(s_malformedReplies.Keys);

    private static readonly Dictionary<string, RedisResult> s_malformedReplies = new()
    {
        ["scalar instead of array"] = Bulk(SegmentKeyText),
        ["integer instead of array"] = Integer(1),
        ["empty array"] = Array(),
        ["three elements"] = Array(Bulk(SegmentKeyText), Integer(1), Integer(0)),
        ["null segment key"] = Array(Bulk(null), Integer(1), Integer(0), Array()),
        ["null merged root"] = Array(Bulk(SegmentKeyText), Integer(1), Integer(0), Array(Bulk(Id('c')), Bulk(null))),
        ["non-numeric root flag"] = Array(Bulk(SegmentKeyText), Bulk("yes"), Integer(0), Array()),
        ["unknown detach code"] = Array(Bulk(SegmentKeyText), Integer(1), Integer(7), Array()),
        ["merged roots not an array"] = Array(Bulk(SegmentKeyText), Integer(1), Integer(0), Bulk(Id('c'))),
    };

    [Theory]
    [MemberData(nameof(MalformedReplies))]
    public void ParseResult_MalformedReply_ThrowsInvalidOperationException(string shape)
    {
        var ex = Record.Exception(() => AddBufferScript.ParseResult(s_malformedReplies[shape]));

        Assert.True(ex is InvalidOperationException, $"{shape}: expected InvalidOperationException, got {ex?.GetType().Name ?? "no exception"}");
    }

    [Fact]
    public void LuaScriptsAddBuffer_IsLoadedFromTheEmbeddedResource()
    {
        var script = LuaScripts.AddBuffer.Text;

        Assert.False(string.IsNullOrWhiteSpace(script));
        Assert.Contains("SSCAN", script, StringComparison.Ordinal);
        Assert.Contains("ARGV[10..]", script, StringComparison.Ordinal);
    }

    [Fact]
    public void RedisScript_Hash_IsTheSha1OfTheTextAsRedisNamesIt()
    {
        // What redis-server 7.0 answers to SCRIPT LOAD "return 'hello moon'".
        var script = new RedisScript("return 'hello moon'");

        Assert.Equal("8e3d8cfcbb6571ecf555cc0a7d6fb950b4437dc6", Convert.ToHexStringLower(script.Hash));
    }

    [Fact]
    public void LuaScriptsLoad_MissingScript_ThrowsInvalidOperationException()
    {
        Assert.Throws<InvalidOperationException>(() => LuaScripts.Load("no-such-script.lua"));
    }

    [Fact]
    public void EmbeddedResources_EveryLuaFileInScripts_IsEmbedded()
    {
        var scriptsDirectory = FindScriptsDirectory();
        var files = Directory.GetFiles(scriptsDirectory, "*.lua").Select(Path.GetFileName).ToList();
        var resources = typeof(SpansBuffer).Assembly.GetManifestResourceNames();

        Assert.NotEmpty(files);
        Assert.All(files, file => Assert.Contains("SpanBuffer.Scripts." + file, resources));
        Assert.All(files, file => Assert.Equal(File.ReadAllText(Path.Combine(scriptsDirectory, file!)), LuaScripts.Load(file!)));
    }

    private static string FindScriptsDirectory([System.Runtime.CompilerServices.CallerFilePath] string thisFile = "")
    {
        // The source tree, not the build output: builds may go to an artifacts path outside the repository.
        for (var directory = new DirectoryInfo(Path.GetDirectoryName(thisFile)!); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "src", "SpanBuffer", "Scripts");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("src/SpanBuffer/Scripts not found above " + thisFile);
    }
}
