using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace SpanBuffer.Tests;

public sealed class SpanBufferOptionsValidatorTests
{
    private static ValidateOptionsResult Validate(Action<SpanBufferOptions> configure)
    {
        var options = new SpanBufferOptions();
        configure(options);
        return new SpanBufferOptionsValidator().Validate(null, options);
    }

    private static string AssertFails(Action<SpanBufferOptions> configure, string optionName)
    {
        var result = Validate(configure);

        Assert.True(result.Failed, $"expected {optionName} to be rejected");
        var failures = result.Failures ?? [];
        Assert.Contains(failures, f => f.Contains(optionName, StringComparison.Ordinal));
        return failures.First(f => f.Contains(optionName, StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_Defaults_Succeeds()
    {
        var result = new SpanBufferOptionsValidator().Validate(null, new SpanBufferOptions());

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Fact]
    public void Defaults_EqualTheReferenceDefaults()
    {
        var options = new SpanBufferOptions();

        Assert.Equal(TimeSpan.FromSeconds(60), options.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(10), options.RootTimeout);
        Assert.Equal(TimeSpan.FromSeconds(3600), options.RedisTtl);
        Assert.Equal(100, options.SegmentPageSize);
        Assert.Equal(10485760, options.MaxSegmentBytes);
        Assert.Equal(500, options.MaxFlushSegments);
        Assert.Equal(1.0, options.MaxMemoryRatio);
        Assert.Equal(TimeSpan.FromSeconds(10), options.BackpressureTime);
        Assert.Equal(TimeSpan.FromSeconds(60), options.MaxUnhealthyTime);
        Assert.Equal(TimeSpan.Zero, options.FlushLockTtl);
        Assert.Equal(0, options.CompressionLevel);
        Assert.Equal(0, options.PipelineBatchSize);
        Assert.Equal(0, options.MaxSpansPerScriptCall);
        Assert.Equal("span-buf", options.KeyPrefix);
        Assert.Null(options.AssignedShards);
        Assert.Equal([0], options.FlushShards);
        Assert.False(options.LogFlushedSegments);
        Assert.Equal(QueueCleanupRule.EverySpanOfTheTree, options.QueueCleanup);
        Assert.Null(options.SliceId);
    }

    [Fact]
    public void Validate_RootTimeoutAboveTimeout_FailsWithExactMessage()
    {
        var result = Validate(o => o.RootTimeout = TimeSpan.FromSeconds(61));

        var failure = Assert.Single(result.Failures!);
        Assert.Equal(
            "Property RootTimeout: must not be greater than Timeout (00:01:00); a segment with its root would otherwise wait longer than one without.",
            failure);
    }

    [Fact]
    public void Validate_RootTimeoutEqualToTimeout_Succeeds()
    {
        Assert.True(Validate(o => o.RootTimeout = o.Timeout).Succeeded);
    }

    [Theory]
    [InlineData(60)]
    [InlineData(59)]
    public void Validate_RedisTtlNotAboveTimeout_NamesRedisTtl(int ttlSeconds)
    {
        AssertFails(o => o.RedisTtl = TimeSpan.FromSeconds(ttlSeconds), nameof(SpanBufferOptions.RedisTtl));
    }

    [Theory]
    [InlineData(nameof(SpanBufferOptions.Timeout))]
    [InlineData(nameof(SpanBufferOptions.RootTimeout))]
    [InlineData(nameof(SpanBufferOptions.RedisTtl))]
    [InlineData(nameof(SpanBufferOptions.FlushLockTtl))]
    public void Validate_NonWholeSecondTimeout_NamesTheOption(string option)
    {
        var half = TimeSpan.FromMilliseconds(500);
        Action<SpanBufferOptions> configure = option switch
        {
            nameof(SpanBufferOptions.Timeout) => o => o.Timeout += half,
            nameof(SpanBufferOptions.RootTimeout) => o => o.RootTimeout += half,
            nameof(SpanBufferOptions.RedisTtl) => o => o.RedisTtl += half,
            _ => o => o.FlushLockTtl = TimeSpan.FromSeconds(1.5),
        };

        var message = AssertFails(configure, option);

        Assert.Contains("whole number of seconds", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("span{buf")]
    [InlineData("span-buf}")]
    [InlineData("span:buf")]
    [InlineData("span buf")]
    public void Validate_KeyPrefixBreakingKeys_NamesKeyPrefix(string prefix)
    {
        AssertFails(o => o.KeyPrefix = prefix, nameof(SpanBufferOptions.KeyPrefix));
    }

    [Fact]
    public void Validate_NullKeyPrefix_NamesKeyPrefix()
    {
        AssertFails(o => o.KeyPrefix = null!, nameof(SpanBufferOptions.KeyPrefix));
    }

    [Fact]
    public void Validate_EmptyAssignedShards_IsValidAndMeansNoShard()
    {
        var options = new SpanBufferOptions { AssignedShards = [] };

        Assert.True(new SpanBufferOptionsValidator().Validate(null, options).Succeeded);
        Assert.Empty(options.FlushShards);
    }

    [Fact]
    public void Bind_ConfiguredShards_ReplaceTheDefault()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["AssignedShards:0"] = "2", ["AssignedShards:1"] = "5" })
            .Build();
        var options = new SpanBufferOptions();

        configuration.Bind(options);

        Assert.Equal([2, 5], options.AssignedShards);
        Assert.Equal([2, 5], options.FlushShards);
    }

    [Theory]
    [InlineData(new[] { 0, -1 }, "negative")]
    [InlineData(new[] { 1, 2, 1 }, "twice")]
    public void Validate_BadAssignedShards_NamesAssignedShards(int[] shards, string reason)
    {
        var message = AssertFails(o => o.AssignedShards = shards, nameof(SpanBufferOptions.AssignedShards));

        Assert.Contains(reason, message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NullAssignedShards_IsValidAndMeansShardZero()
    {
        var options = new SpanBufferOptions { AssignedShards = null };

        Assert.True(new SpanBufferOptionsValidator().Validate(null, options).Succeeded);
        Assert.Equal([0], options.FlushShards);
    }

    [Fact]
    public void Validate_UndefinedQueueCleanupRule_NamesQueueCleanup()
    {
        AssertFails(o => o.QueueCleanup = (QueueCleanupRule)7, nameof(SpanBufferOptions.QueueCleanup));
    }

    [Fact]
    public void CopyConstructor_EveryProperty_IsCopiedAndTheShardListIsNotShared()
    {
        // Every settable property gets a value unlike its default, so a property the copy forgets fails here.
        var original = new SpanBufferOptions();
        var defaults = new SpanBufferOptions();
        foreach (var property in typeof(SpanBufferOptions).GetProperties().Where(p => p.CanWrite))
        {
            property.SetValue(original, NonDefault(property.PropertyType, property.GetValue(defaults)));
        }

        var copy = new SpanBufferOptions(original);

        foreach (var property in typeof(SpanBufferOptions).GetProperties().Where(p => p.CanWrite))
        {
            Assert.Equal(property.GetValue(original), property.GetValue(copy));
            Assert.NotEqual(property.GetValue(defaults), property.GetValue(copy));
        }

        Assert.NotSame(original.AssignedShards, copy.AssignedShards);
        original.AssignedShards!.Add(99);
        Assert.DoesNotContain(99, copy.AssignedShards!);
        Assert.Equal(7, new SpanBufferOptions(original) { SliceId = 7 }.SliceId);
    }

    private static object NonDefault(Type type, object? value) => type switch
    {
        _ when type == typeof(TimeSpan) => (TimeSpan)value! + TimeSpan.FromSeconds(1),
        _ when type == typeof(int) => (int)value! + 1,
        _ when type == typeof(long) => (long)value! + 1,
        _ when type == typeof(double) => (double)value! / 2,
        _ when type == typeof(bool) => !(bool)value!,
        _ when type == typeof(int?) => 3,
        _ when type == typeof(string) => "changed",
        _ when type == typeof(IList<int>) => new List<int> { 4, 2 },
        _ when type == typeof(QueueCleanupRule) => QueueCleanupRule.MergedRoots,
        _ => throw new InvalidOperationException($"No non-default value for {type}."),
    };

    [Fact]
    public void Validate_CompressionLevel23_NamesCompressionLevel()
    {
        AssertFails(o => o.CompressionLevel = 23, nameof(SpanBufferOptions.CompressionLevel));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(22)]
    public void Validate_CompressionLevelAtBounds_Succeeds(int level)
    {
        Assert.True(Validate(o => o.CompressionLevel = level).Succeeded);
    }

    [Fact]
    public void Validate_MaxFlushSegmentsZero_NamesMaxFlushSegments()
    {
        AssertFails(o => o.MaxFlushSegments = 0, nameof(SpanBufferOptions.MaxFlushSegments));
    }

    [Fact]
    public void Validate_MaxMemoryRatioAboveOne_NamesMaxMemoryRatio()
    {
        AssertFails(o => o.MaxMemoryRatio = 1.5, nameof(SpanBufferOptions.MaxMemoryRatio));
    }

    [Theory]
    [InlineData(nameof(SpanBufferOptions.Timeout))]
    [InlineData(nameof(SpanBufferOptions.RootTimeout))]
    [InlineData(nameof(SpanBufferOptions.SegmentPageSize))]
    [InlineData(nameof(SpanBufferOptions.MaxSegmentBytes))]
    [InlineData(nameof(SpanBufferOptions.MaxMemoryRatio))]
    [InlineData(nameof(SpanBufferOptions.BackpressureTime))]
    [InlineData(nameof(SpanBufferOptions.MaxUnhealthyTime))]
    [InlineData(nameof(SpanBufferOptions.FlushLockTtl))]
    [InlineData(nameof(SpanBufferOptions.CompressionLevel))]
    [InlineData(nameof(SpanBufferOptions.PipelineBatchSize))]
    [InlineData(nameof(SpanBufferOptions.MaxSpansPerScriptCall))]
    [InlineData(nameof(SpanBufferOptions.SliceId))]
    [InlineData(nameof(SpanBufferOptions.FlushInterval))]
    public void Validate_NegativeOrZeroBelowRange_NamesTheOption(string option)
    {
        Action<SpanBufferOptions> configure = option switch
        {
            nameof(SpanBufferOptions.Timeout) => o => o.Timeout = TimeSpan.Zero,
            nameof(SpanBufferOptions.RootTimeout) => o => o.RootTimeout = TimeSpan.Zero,
            nameof(SpanBufferOptions.SegmentPageSize) => o => o.SegmentPageSize = 0,
            nameof(SpanBufferOptions.MaxSegmentBytes) => o => o.MaxSegmentBytes = -1,
            nameof(SpanBufferOptions.MaxMemoryRatio) => o => o.MaxMemoryRatio = -0.1,
            nameof(SpanBufferOptions.BackpressureTime) => o => o.BackpressureTime = TimeSpan.FromSeconds(-1),
            nameof(SpanBufferOptions.MaxUnhealthyTime) => o => o.MaxUnhealthyTime = TimeSpan.Zero,
            nameof(SpanBufferOptions.FlushLockTtl) => o => o.FlushLockTtl = TimeSpan.FromSeconds(-1),
            nameof(SpanBufferOptions.CompressionLevel) => o => o.CompressionLevel = -2,
            nameof(SpanBufferOptions.PipelineBatchSize) => o => o.PipelineBatchSize = -1,
            nameof(SpanBufferOptions.MaxSpansPerScriptCall) => o => o.MaxSpansPerScriptCall = -1,
            nameof(SpanBufferOptions.SliceId) => o => o.SliceId = -1,
            _ => o => o.FlushInterval = TimeSpan.Zero,
        };

        AssertFails(configure, option);
    }

    [Fact]
    public void Validate_SeveralInvalidOptions_ReportsEachOfThem()
    {
        var result = Validate(o =>
        {
            o.MaxFlushSegments = 0;
            o.CompressionLevel = 23;
            o.AssignedShards = [3, 3];
        });

        Assert.Contains(result.Failures!, f => f.Contains(nameof(SpanBufferOptions.MaxFlushSegments), StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains(nameof(SpanBufferOptions.CompressionLevel), StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains(nameof(SpanBufferOptions.AssignedShards), StringComparison.Ordinal));
    }

    [Fact]
    public void ThrowIfInvalid_InvalidOptions_ThrowsOptionsValidationExceptionWithFailures()
    {
        var options = new SpanBufferOptions { MaxMemoryRatio = 1.5 };

        var ex = Assert.Throws<OptionsValidationException>(() => SpanBufferOptionsValidator.ThrowIfInvalid(options));

        Assert.Equal(typeof(SpanBufferOptions), ex.OptionsType);
        Assert.Equal(Options.DefaultName, ex.OptionsName);
        Assert.Contains(ex.Failures, f => f.Contains(nameof(SpanBufferOptions.MaxMemoryRatio), StringComparison.Ordinal));
    }

    [Fact]
    public void ThrowIfInvalid_NamedOptions_CarriesTheName()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => SpanBufferOptionsValidator.ThrowIfInvalid(new SpanBufferOptions { MaxFlushSegments = 0 }, "east"));

        Assert.Equal("east", ex.OptionsName);
    }

    [Fact]
    public void ThrowIfInvalid_Defaults_DoesNotThrow()
    {
        var ex = Record.Exception(() => SpanBufferOptionsValidator.ThrowIfInvalid(new SpanBufferOptions()));

        Assert.Null(ex);
    }

    [Fact]
    public void SpansBufferConstructor_InvalidOptions_ThrowsBeforeTouchingRedis()
    {
        // A null connection would throw ArgumentNullException; validation happens first.
        var ex = Assert.Throws<OptionsValidationException>(() => new SpansBuffer(null!, new SpanBufferOptions { CompressionLevel = 23 }));

        Assert.Contains(ex.Failures, f => f.Contains(nameof(SpanBufferOptions.CompressionLevel), StringComparison.Ordinal));
    }

    [Fact]
    public void SpansBufferConstructor_ValidOptionsNullRedis_ThrowsArgumentNullException()
    {
        var ex = Assert.Throws<ArgumentNullException>(() => new SpansBuffer(null!, new SpanBufferOptions()));

        Assert.Equal("redis", ex.ParamName);
    }
}
