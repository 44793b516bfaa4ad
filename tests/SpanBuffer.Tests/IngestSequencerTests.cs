using SpanBuffer.Ingest;

namespace SpanBuffer.Tests;

public sealed class IngestSequencerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Enter_FirstTurn_MayGoAtOnce()
    {
        using var turn = new IngestSequencer().Enter();

        await turn.WaitToSendScriptsAsync(Ct);
        await turn.WaitToUpdateQueueAsync(Ct);
    }

    [Fact]
    public async Task Enter_SecondTurn_SendsEachPhaseOnlyAfterTheFirstSentIt()
    {
        var sequencer = new IngestSequencer();
        using var first = sequencer.Enter();
        using var second = sequencer.Enter();
        var secondScripts = second.WaitToSendScriptsAsync(Ct);
        var secondQueue = second.WaitToUpdateQueueAsync(Ct);

        Assert.False(secondScripts.IsCompleted);
        first.ScriptsSent();
        await secondScripts;

        // The queue turn is separate: the first call is still waiting for its script replies.
        Assert.False(secondQueue.IsCompleted);
        first.QueueUpdateSent();
        await secondQueue;
    }

    [Fact]
    public async Task Dispose_FailedMiddleTurn_PassesOnOnlyWhenTheTurnBeforeIt()
    {
        var sequencer = new IngestSequencer();
        using var first = sequencer.Enter();
        var middle = sequencer.Enter();
        using var last = sequencer.Enter();
        var lastScripts = last.WaitToSendScriptsAsync(Ct);
        var lastQueue = last.WaitToUpdateQueueAsync(Ct);

        middle.Dispose();

        Assert.False(lastScripts.IsCompleted);
        Assert.False(lastQueue.IsCompleted);
        first.ScriptsSent();
        await lastScripts;
        Assert.False(lastQueue.IsCompleted);
        first.Dispose();
        await lastQueue;
    }

    [Fact]
    public async Task WaitToSendScriptsAsync_Cancelled_ThrowsAndTheTurnStillPassesOn()
    {
        var sequencer = new IngestSequencer();
        using var first = sequencer.Enter();
        var second = sequencer.Enter();
        using var third = sequencer.Enter();
        using var cancellation = new CancellationTokenSource();
        var waiting = second.WaitToSendScriptsAsync(cancellation.Token);

        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        second.Dispose();
        var thirdScripts = third.WaitToSendScriptsAsync(Ct);
        Assert.False(thirdScripts.IsCompleted);
        first.Dispose();
        await thirdScripts;
    }

    [Fact]
    public async Task PreviousScriptsSettled_HandsOnTheRerunTracesAndPassesThemThroughAFailedCall()
    {
        var sequencer = new IngestSequencer();
        var first = sequencer.Enter();
        var second = sequencer.Enter();
        using var third = sequencer.Enter();
        Assert.False(second.PreviousScriptsSettled.IsCompleted);

        first.ScriptsSettled(new HashSet<string>(["trace-x"]));
        first.Dispose();
        Assert.Equal(["trace-x"], await second.PreviousScriptsSettled);

        // The second call failed before its scripts settled: the third still learns what the first re-ran.
        Assert.False(third.PreviousScriptsSettled.IsCompleted);
        second.Dispose();
        Assert.Equal(["trace-x"], await third.PreviousScriptsSettled);
    }
}
