namespace SpanBuffer.Tests;

/// <summary>The flusher's delivery-retry settings: <see cref="SpanBufferOptions.MaxDeliveryAttempts"/> and the back-off.</summary>
public sealed class FlusherDeliveryOptionsTests
{
    [Fact]
    public void MaxDeliveryAttempts_DefaultsToFiveAndIsValid()
    {
        var options = new SpanBufferOptions();

        Assert.Equal(5, options.MaxDeliveryAttempts);
        Assert.True(new SpanBufferOptionsValidator().Validate(null, options).Succeeded);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(1001)]
    public void MaxDeliveryAttempts_OutOfRange_IsRejected(int attempts)
    {
        var result = new SpanBufferOptionsValidator().Validate(null, new SpanBufferOptions { MaxDeliveryAttempts = attempts });

        Assert.True(result.Failed);
        Assert.Contains(result.Failures ?? [], f => f.Contains(nameof(SpanBufferOptions.MaxDeliveryAttempts), StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1000)]
    public void MaxDeliveryAttempts_InRange_IsAccepted(int attempts) =>
        Assert.True(new SpanBufferOptionsValidator().Validate(null, new SpanBufferOptions { MaxDeliveryAttempts = attempts }).Succeeded);

    [Theory]
    [InlineData(1000, 1, 1000)]
    [InlineData(1000, 2, 2000)]
    [InlineData(1000, 5, 16000)]
    [InlineData(1000, 6, 30000)]
    [InlineData(1000, 10_000, 30000)]
    [InlineData(60_000, 1, 60_000)]
    [InlineData(60_000, 3, 60_000)]
    public void Backoff_DoublesTheIntervalUpToThirtySecondsOrTheInterval(int intervalMs, int stalledCycles, int expectedMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), SpanFlusher.Backoff(TimeSpan.FromMilliseconds(intervalMs), stalledCycles));
}
