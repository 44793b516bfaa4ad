using System.Diagnostics;
using System.Globalization;
using SpanBuffer.Models;
using StackExchange.Redis;

namespace SpanBuffer.Benchmarks;

/// <summary>One chaos run: ingest, the flusher, the fault injector, the drain and the report.</summary>
internal sealed class ChaosRun(ChaosSettings settings, ChaosWorkload workload, ChaosRedis redis, TextWriter output) : IDisposable
{
    private static readonly TimeSpan GiveUpBatchAfter = TimeSpan.FromMinutes(2);

    private readonly ChaosTally _tally = new(settings.MaxSpans);
    private readonly ChaosLog _log = new();
    private readonly ChaosSinkFaults _sinkFaults = new(TimeSpan.FromSeconds(settings.HangSeconds));
    private readonly List<SpanFlusherStatistics> _finishedFlushers = [];
    private readonly Lock _outputGate = new();
    private readonly long _started = Stopwatch.GetTimestamp();
    private long _ingestedSpans;
    private long _batches;
    private long _replayedBatches;
    private long _abandonedBatches;
    private long _passes;
    private double _pausedSeconds;
    private Task _secondFlusher = Task.CompletedTask;

    private SpanBufferOptions Options
    {
        get
        {
            var options = settings.Options;
            options.AssignedShards = Enumerable.Range(0, settings.Shards).ToList();
            return options;
        }
    }

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        using var connection = await ConnectAsync(allowAdmin: false);
        using var admin = await ConnectAsync(allowAdmin: true);
        using var buffer = new SpansBuffer(connection, Options, _log);
        var sink = new ChaosSink("flusher-1", workload, _tally, _sinkFaults);
        using var flusher = new SpanFlusher(buffer, sink, _log);
        sink.Flusher = flusher;
        await flusher.StartAsync(cancellationToken);

        using var runEnd = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        runEnd.CancelAfter(TimeSpan.FromMinutes(settings.Minutes));
        using var faultsEnd = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var faults = InjectFaultsAsync(admin, faultsEnd.Token);
        var progress = ReportProgressAsync(runEnd.Token);
        await IngestAsync(buffer, flusher, runEnd.Token);
        var ingestEnded = Stopwatch.GetTimestamp();
        Say($"ingest stopped: {Interlocked.Read(ref _ingestedSpans)} spans in {Interlocked.Read(ref _batches)} batches over {Interlocked.Read(ref _passes) + 1} passes");

        // No faults during the drain: redis-server running, second flusher stopped, no armed sink fault left.
        await faultsEnd.CancelAsync();
        await faults;
        await progress;
        _sinkFaults.Disarm();
        await redis.EnsureRunningAsync(cancellationToken);

        var drained = await DrainAsync(buffer, cancellationToken);
        var drainTime = Stopwatch.GetElapsedTime(ingestEnded);
        using (var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await flusher.StopAsync(stopTimeout.Token);
        }

        sink.ResolvePendingLosses();
        lock (_finishedFlushers)
        {
            _finishedFlushers.Add(flusher.Statistics);
        }

        var queuedAfter = await QueuedSegmentsAsync(buffer);
        var left = queuedAfter > 0 ? await CollectLeftoversAsync(connection) : 0;
        var keysLeft = await admin.GetServer(redis.EndPoint).DatabaseSizeAsync();
        return Report(drained, drainTime, queuedAfter, left, keysLeft);
    }

    public void Dispose() => _log.Dispose();

    private async Task<ConnectionMultiplexer> ConnectAsync(bool allowAdmin)
    {
        var configuration = ConfigurationOptions.Parse(redis.EndPoint);
        configuration.AbortOnConnectFail = false;
        configuration.AllowAdmin = allowAdmin;
        configuration.ConnectTimeout = 2000;
        configuration.SyncTimeout = 5000;
        configuration.AsyncTimeout = 5000;
        configuration.ClientName = allowAdmin ? "chaos-admin" : "chaos";
        return await ConnectionMultiplexer.ConnectAsync(configuration);
    }

    /// <summary>Ingests pass after pass at the configured rate until the run ends; a failed batch is replayed, unchanged, until it succeeds.</summary>
    private async Task IngestAsync(SpansBuffer buffer, SpanFlusher flusher, CancellationToken runEnd)
    {
        var perPass = workload.SpansPerPass;
        var clock = Stopwatch.StartNew();
        long sent = 0;
        var pass = 0;
        var index = 0;
        var batch = new List<Span>(settings.BatchSize);
        while (!runEnd.IsCancellationRequested)
        {
            if (((long)pass * perPass) + index + settings.BatchSize > settings.MaxSpans)
            {
                Say($"ingest: --max-spans {settings.MaxSpans} reached, stopping early");
                return;
            }

            // A consumer pauses while the flusher asks it to (backpressure).
            while (flusher.ShouldPauseIngest && !runEnd.IsCancellationRequested)
            {
                await Delay(TimeSpan.FromMilliseconds(100), runEnd);
                _pausedSeconds += 0.1;
            }

            var due = TimeSpan.FromSeconds((double)sent / settings.Rate);
            if (due > clock.Elapsed)
            {
                await Delay(due - clock.Elapsed, runEnd);
            }

            if (runEnd.IsCancellationRequested)
            {
                return;
            }

            batch.Clear();
            var first = ((long)pass * perPass) + index;
            while (batch.Count < settings.BatchSize && index < perPass)
            {
                batch.Add(workload.SpanOf(pass, index++));
            }

            await IngestBatchAsync(buffer, batch, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            for (var i = 0; i < batch.Count; i++)
            {
                _tally.MarkIngested(first + i);
            }

            sent += batch.Count;
            Interlocked.Add(ref _ingestedSpans, batch.Count);
            Interlocked.Increment(ref _batches);
            if (index == perPass)
            {
                pass++;
                index = 0;
                Interlocked.Exchange(ref _passes, pass);
            }
        }
    }

    /// <summary>Replays the same batch with the same clock until Redis accepts it (bounded, so a dead Redis cannot hang the run).</summary>
    private async Task IngestBatchAsync(SpansBuffer buffer, IReadOnlyList<Span> batch, long now)
    {
        var started = Stopwatch.GetTimestamp();
        var backoff = TimeSpan.FromMilliseconds(50);
        var replayed = false;
        while (true)
        {
            try
            {
                await buffer.ProcessSpansAsync(batch, now, CancellationToken.None);
                return;
            }
            catch (Exception ex)
            {
                ChaosTally.Add(_tally.IngestFailures, ChaosLog.Describe(ex));
                if (!replayed)
                {
                    replayed = true;
                    Interlocked.Increment(ref _replayedBatches);
                }

                if (Stopwatch.GetElapsedTime(started) > GiveUpBatchAfter)
                {
                    // Parts of it may be in Redis: its spans still count as ingested, so they show up as silent if missing.
                    Interlocked.Increment(ref _abandonedBatches);
                    Say($"ingest: batch abandoned after {GiveUpBatchAfter.TotalSeconds:0} s of failures ({ChaosLog.Describe(ex)})");
                    return;
                }

                await Task.Delay(backoff);
                backoff = TimeSpan.FromMilliseconds(Math.Min(1000, backoff.TotalMilliseconds * 2));
            }
        }
    }

    private async Task InjectFaultsAsync(IConnectionMultiplexer admin, CancellationToken end)
    {
        var random = new Random(settings.Seed);
        var kinds = settings.Faults.Order().ToList();
        try
        {
            while (kinds.Count > 0 && !end.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(settings.FaultInterval * (0.5 + random.NextDouble())), end);
                var kind = kinds[random.Next(kinds.Count)];
                if (kind == ChaosFault.SecondFlusher && !_secondFlusher.IsCompleted)
                {
                    // One second flusher at a time; the draw is not repeated so the sequence stays the seed's.
                    continue;
                }

                var detail = await InjectAsync(kind, random, admin, end);
                if (detail is not null)
                {
                    ChaosTally.Add(_tally.Faults, kind);
                    Say($"fault: {ChaosSettings.NameOf(kind)}{detail}");
                }
            }
        }
        catch (OperationCanceledException) when (end.IsCancellationRequested)
        {
        }

        await _secondFlusher;
    }

    /// <summary>Injects one fault; returns a detail for the log, or null when it could not be injected.</summary>
    private async Task<string?> InjectAsync(ChaosFault kind, Random random, IConnectionMultiplexer admin, CancellationToken end)
    {
        switch (kind)
        {
            case ChaosFault.ScriptFlush:
                try
                {
                    await admin.GetServer(redis.EndPoint).ScriptFlushAsync();
                    return string.Empty;
                }
                catch (RedisException ex)
                {
                    Say($"fault: script-flush not injected ({ChaosLog.Describe(ex)})");
                    return null;
                }

            case ChaosFault.Restart:
                var downtime = TimeSpan.FromSeconds(0.2 + (random.NextDouble() * 1.8));
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await redis.RestartAsync(downtime, end);
                }
                catch (OperationCanceledException)
                {
                    await redis.EnsureRunningAsync(CancellationToken.None);
                    throw;
                }

                return string.Create(CultureInfo.InvariantCulture, $" (kill -9, down {downtime.TotalSeconds:0.0} s, serving again after {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s)");

            case ChaosFault.SinkFail:
                _sinkFaults.ArmFailure();
                return " (next message fails)";

            case ChaosFault.SinkHang:
                _sinkFaults.ArmHang();
                return string.Create(CultureInfo.InvariantCulture, $" (next message hangs up to {settings.HangSeconds:0.#} s)");

            case ChaosFault.SecondFlusher:
                var duration = TimeSpan.FromSeconds(settings.SecondFlusherSeconds * (0.5 + random.NextDouble()));
                _secondFlusher = RunSecondFlusherAsync(duration, end);
                return string.Create(CultureInfo.InvariantCulture, $" (own connection, same shards, for {duration.TotalSeconds:0.0} s)");

            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    private async Task RunSecondFlusherAsync(TimeSpan duration, CancellationToken end)
    {
        using var connection = await ConnectAsync(allowAdmin: false);
        using var buffer = new SpansBuffer(connection, Options, _log);
        var sink = new ChaosSink("flusher-2", workload, _tally, _sinkFaults);
        using var flusher = new SpanFlusher(buffer, sink, _log);
        sink.Flusher = flusher;
        await flusher.StartAsync(CancellationToken.None);
        await Delay(duration, end);
        using (var stopTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await flusher.StopAsync(stopTimeout.Token);
        }

        sink.ResolvePendingLosses();
        lock (_finishedFlushers)
        {
            _finishedFlushers.Add(flusher.Statistics);
        }

        Say($"second flusher stopped: {flusher.Statistics.Cycles} cycles ({flusher.Statistics.FailedCycles} failed), {flusher.Statistics.SpansProduced} spans produced");
    }

    /// <summary>Waits until every queue is empty (or the drain bound); returns whether they emptied.</summary>
    private async Task<bool> DrainAsync(SpansBuffer buffer, CancellationToken cancellationToken)
    {
        var bound = Stopwatch.StartNew();
        long last = -1;
        while (bound.Elapsed < TimeSpan.FromSeconds(settings.DrainSeconds))
        {
            var queued = await QueuedSegmentsAsync(buffer);
            if (queued == 0)
            {
                Say($"drain: queues empty after {bound.Elapsed.TotalSeconds:0.0} s");
                return true;
            }

            if (queued != last && bound.Elapsed.TotalSeconds > 10)
            {
                Say($"drain: {queued} segments queued");
            }

            last = queued;
            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
        }

        Say($"drain: bound of {settings.DrainSeconds:0} s reached with {last} segments queued");
        return false;
    }

    private static async Task<long> QueuedSegmentsAsync(SpansBuffer buffer)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return (await buffer.GetQueueSizesAsync()).Sum(q => q.Segments);
            }
            catch (RedisException) when (attempt < 20)
            {
                await Task.Delay(250);
            }
        }
    }

    /// <summary>After the drain bound: flushes what is left far in the future (cleaning up) and counts the spans that were never delivered.</summary>
    private async Task<long> CollectLeftoversAsync(IConnectionMultiplexer connection)
    {
        using var buffer = new SpansBuffer(connection, Options);
        var left = new ChaosTally(settings.MaxSpans);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1_000_000;
        for (var cycle = 0; cycle < 10_000; cycle++)
        {
            var result = await buffer.FlushSegmentsAsync(now);
            if (result.Segments.Count == 0)
            {
                break;
            }

            foreach (var span in result.Segments.SelectMany(s => s.Spans))
            {
                left.MarkDelivered(workload.NumberOf(span.Json.Span, span.SpanId));
            }

            await buffer.DoneFlushSegmentsAsync(result.Segments);
        }

        // Only those the sink never got: the rest were delivered and would have been duplicates.
        return left.CountNotIn(_tally);
    }

    private async Task ReportProgressAsync(CancellationToken runEnd)
    {
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(15), runEnd);
                Say($"progress: {Interlocked.Read(ref _ingestedSpans)} spans ingested, {_tally.Deliveries} deliveries, {_tally.Messages} messages, {_tally.IngestFailures.Values.Sum()} failed ingest attempts");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private int Report(bool drained, TimeSpan drainTime, long queuedAfter, long left, long keysLeft)
    {
        var summary = _tally.Summarize();
        var spanLossReasons = new[] { SegmentLossReason.Dropped, SegmentLossReason.InvalidPayload, SegmentLossReason.DeliveryFailed };
        var counted = spanLossReasons.Sum(r => _tally.ConfirmedLosses.GetValueOrDefault(r));
        var silent = summary.Ingested - summary.DeliveredUnique - counted;
        var flusherLost = _finishedFlushers.Sum(s => s.LostSpans);

        var rows = new List<(string Figure, string Value)>
        {
            ("ingested spans (unique span ids)", N(summary.Ingested)),
            ("delivered unique", N(summary.DeliveredUnique)),
            ("not delivered (ingested - delivered unique)", N(summary.Ingested - summary.DeliveredUnique)),
            ("duplicates (deliveries beyond the first)", $"{N(summary.Duplicates)} ({N(summary.SpansDuplicated)} spans delivered more than once)"),
        };
        foreach (var reason in Enum.GetValues<SegmentLossReason>())
        {
            var unit = reason == SegmentLossReason.ExpiredBeforeFlush ? "segments, not counted" : "spans";
            rows.Add(($"loss {reason}", $"{N(_tally.ConfirmedLosses.GetValueOrDefault(reason))} {unit} (reported {N(_tally.ReportedLosses.GetValueOrDefault(reason))} in all attempts, {N(_tally.RetractedLosses.GetValueOrDefault(reason))} by cycles that then failed)"));
        }

        rows.Add(("counted losses", $"{N(counted)} (flushers' LostSpans: {N(flusherLost)})"));
        rows.Add(("silent = ingested - delivered unique - counted losses", N(silent)));
        foreach (var fault in Enum.GetValues<ChaosFault>().Where(settings.Faults.Contains))
        {
            rows.Add(($"fault {ChaosSettings.NameOf(fault)}", N(_tally.Faults.GetValueOrDefault(fault))));
        }

        foreach (var (outcome, count) in _tally.SinkFaultOutcomes.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            rows.Add(($"sink message {outcome}", N(count)));
        }

        rows.Add(("ingest batches", $"{N(Interlocked.Read(ref _batches))} ({N(_replayedBatches)} replayed, {N(_abandonedBatches)} abandoned; paused for backpressure {_pausedSeconds:0.0} s)"));
        foreach (var (failure, count) in _tally.IngestFailures.OrderByDescending(kv => kv.Value))
        {
            rows.Add(($"ingest attempt failed: {failure}", N(count)));
        }

        rows.Add(("flusher cycles", $"{N(_finishedFlushers.Sum(s => s.Cycles))} ({N(_finishedFlushers.Sum(s => s.FailedCycles))} failed) over {_finishedFlushers.Count} flushers; {N(_tally.Messages)} messages acknowledged"));
        foreach (var (logEvent, count) in _log.Events.OrderByDescending(kv => kv.Value))
        {
            rows.Add(($"log {logEvent}", N(count)));
        }

        rows.Add(("drain", drained ? $"queues empty {drainTime.TotalSeconds:0.0} s after ingest stopped" : $"NOT drained: {N(queuedAfter)} segments queued after {settings.DrainSeconds:0} s"));
        if (!drained)
        {
            rows.Add(("  spans left in Redis, never delivered (part of silent)", N(left)));
        }

        rows.Add(("delivered but never ingested / unknown spans", $"{N(summary.DeliveredNotIngested)} / {N(summary.Unknown)}"));
        rows.Add(("redis keys left after the run", N(keysLeft)));
        rows.Add(("redis-server restarts", N(redis.Restarts)));

        var width = rows.Max(r => r.Figure.Length);
        lock (_outputGate)
        {
            output.WriteLine();
            output.WriteLine($"| {"figure".PadRight(width)} | value");
            output.WriteLine($"|{new string('-', width + 2)}|{new string('-', 40)}");
            foreach (var (figure, value) in rows)
            {
                output.WriteLine($"| {figure.PadRight(width)} | {value}");
            }
        }

        if (counted != flusherLost)
        {
            output.WriteLine($"warning: the losses of completed cycles ({N(counted)}) differ from the flushers' LostSpans ({N(flusherLost)}): the flusher reports losses in another order than ChaosSink assumes (see its remarks)");
        }

        output.WriteLine(silent == 0 ? "OK: every ingested span was delivered or counted as lost" : $"FAILED: {N(silent)} spans unaccounted for (silent {(silent > 0 ? "loss" : "over-count")})");
        return silent == 0 ? 0 : 1;
    }

    private void Say(string line)
    {
        var elapsed = Stopwatch.GetElapsedTime(_started).TotalSeconds;
        lock (_outputGate)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{elapsed,7:0.0} s] {line}"));
        }
    }

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static async Task Delay(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
