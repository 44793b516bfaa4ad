using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using SpanBuffer.IntegrationTests.Infrastructure;

namespace SpanBuffer.IntegrationTests.Hosting;

/// <summary>
/// <see cref="SpanFlusher.StopAsync"/> with a token that fires only later (the host's shutdown timeout): the cycle
/// in flight must be aborted (the sink's token cancelled), the loop must stop and log FlusherStopped, and the aborted
/// cycle's segments must stay in Redis for the next run.
/// </summary>
public abstract class SpanFlusherStopTimeoutTests(RedisFixture fixture) : HostingTestBase(fixture)
{
    private static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Stop_TokenCancelledAfterStopStarted_CancelsTheSinkTokenStopsTheLoopAndKeepsTheSegments()
    {
        await using var run = await BlockedCycle.StartAsync(this);
        using var shutdown = new CancellationTokenSource();

        var stopping = run.Flusher.StopAsync(shutdown.Token);
        Assert.False(stopping.IsCompleted);
        Assert.False(run.SinkTokenCancelled.Task.IsCompleted);

        await shutdown.CancelAsync();
        await stopping.WaitAsync(WaitTimeout, Ct);

        await run.AssertAbortedAndStoppedAsync();
    }

    [Fact]
    public async Task Stop_AbortedCycleUnderFlushLocks_HandsTheLocksBackSoTheNextFlusherTakesTheSegmentAtOnce()
    {
        await using var run = await BlockedCycle.StartAsync(this, flushLockTtl: TimeSpan.FromMinutes(5));
        using var shutdown = new CancellationTokenSource();

        var stopping = run.Flusher.StopAsync(shutdown.Token);
        await shutdown.CancelAsync();
        await stopping.WaitAsync(WaitTimeout, Ct);

        // The keys are those before the flush (no lock key left), and the next flusher delivers without waiting 5 min.
        await run.AssertAbortedAndStoppedAsync();
    }

    [Fact]
    public async Task Stop_TokenFromCancelAfterOnTheTimeProvider_AbortsTheCycleWhenTheShutdownTimeoutPasses()
    {
        await using var run = await BlockedCycle.StartAsync(this);
        using var shutdown = new CancellationTokenSource(ShutdownTimeout, run.Time);

        var stopping = run.Flusher.StopAsync(shutdown.Token);
        run.Time.Advance(ShutdownTimeout - TimeSpan.FromSeconds(1));
        Assert.False(stopping.IsCompleted);
        Assert.False(run.SinkTokenCancelled.Task.IsCompleted);

        run.Time.Advance(TimeSpan.FromSeconds(1));
        await stopping.WaitAsync(WaitTimeout, Ct);

        await run.AssertAbortedAndStoppedAsync();
    }

    /// <summary>A started flusher whose only cycle is blocked in the sink until the sink's token is cancelled.</summary>
    private sealed class BlockedCycle : IAsyncDisposable
    {
        private readonly SpanFlusherStopTimeoutTests _test;
        private readonly LoggerFactory _loggerFactory;
        private readonly SpansBuffer _buffer;
        private readonly FakeLogCollector _logs;
        private readonly string _prefix;
        private readonly TestSegment _segment;
        private readonly long _now;
        private IReadOnlyList<string> _keysBeforeFlush = [];

        private BlockedCycle(SpanFlusherStopTimeoutTests test, TimeSpan flushLockTtl)
        {
            _test = test;
            _prefix = test.NewKeyPrefix(nameof(SpanFlusherStopTimeoutTests));
            _logs = new FakeLogCollector();
            _loggerFactory = new LoggerFactory([new FakeLoggerProvider(_logs)]);
            _buffer = new SpansBuffer(test.Redis, new SpanBufferOptions { KeyPrefix = _prefix, FlushInterval = FlushInterval, FlushLockTtl = flushLockTtl }, _loggerFactory, timeProvider: Time);
            Sink = new RecordingSink
            {
                OnProduce = async (_, cancellationToken) =>
                {
                    // The registration's callback runs inside Cancel, so it has run once the cycle is aborted.
                    using var registration = cancellationToken.Register(() => SinkTokenCancelled.TrySetResult());
                    Entered.TrySetResult();
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                },
            };
            Flusher = new SpanFlusher(_buffer, Sink, _loggerFactory, Time);
            _segment = TestSegment.Create(spanCount: 3);
            _now = Flusher.Now;
        }

        public SignallingTimeProvider Time { get; } = new();

        public RecordingSink Sink { get; }

        public SpanFlusher Flusher { get; }

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource SinkTokenCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public static async Task<BlockedCycle> StartAsync(SpanFlusherStopTimeoutTests test, TimeSpan flushLockTtl = default)
        {
            var run = new BlockedCycle(test, flushLockTtl);
            await run._buffer.ProcessSpansAsync(run._segment.Spans, run._now - 120, Ct);
            run._keysBeforeFlush = await test.KeysAsync(run._prefix);
            await run.Flusher.StartAsync(Ct);
            await run.Entered.Task.WaitAsync(WaitTimeout, Ct);
            return run;
        }

        public async Task AssertAbortedAndStoppedAsync()
        {
            // StopAsync returned: by then the sink's token was cancelled and the loop had ended and logged it.
            Assert.True(SinkTokenCancelled.Task.IsCompleted, "the sink's cancellation token was not cancelled");
            Assert.True(Flusher.ExecuteTask!.IsCompleted, "the flusher loop is still running after StopAsync returned");
            Assert.Contains(_logs.GetSnapshot(), record => record.Id.Name == "FlusherStopped");
            Assert.Empty(Sink.Delivered);
            Assert.Equal(1, Sink.Attempts);
            Assert.Equal(0, Flusher.Statistics.FailedCycles);

            // The aborted cycle cleaned nothing; the next run delivers the same spans and cleans up.
            Assert.Equal(_keysBeforeFlush, await _test.KeysAsync(_prefix));
            Assert.Equal([_segment.SegmentKey(_prefix)], await _test.QueueMembersAsync(_prefix));
            var nextSink = new RecordingSink();
            using var next = new SpanFlusher(_buffer, nextSink, timeProvider: Time);
            await next.FlushOnceAsync(_now, Ct);
            Assert.Equal(_segment.SpanIds.Order(), nextSink.DeliveredSpanIds.Order());
            Assert.Empty(await _test.KeysAsync(_prefix));
        }

        public async ValueTask DisposeAsync()
        {
            if (Flusher.ExecuteTask is { IsCompleted: false })
            {
                using var cancelled = new CancellationTokenSource();
                await cancelled.CancelAsync();
                await Flusher.StopAsync(cancelled.Token);
            }

            Flusher.Dispose();
            _buffer.Dispose();
            _loggerFactory.Dispose();
        }
    }
}

public sealed class SpanFlusherStopTimeoutTestsOnStandalone(StandaloneRedisFixture fixture) : SpanFlusherStopTimeoutTests(fixture);

public sealed class SpanFlusherStopTimeoutTestsOnCluster(ClusterRedisFixture fixture) : SpanFlusherStopTimeoutTests(fixture);
