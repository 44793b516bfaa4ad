namespace SpanBuffer.Ingest;

/// <summary>
/// Keeps concurrent ingest calls equivalent to running them one after another in call order: a call sends its script
/// calls only after the previous call sent its own, and its queue update only after the previous call sent its queue
/// update. Redis runs the commands of a connection in the order they were sent, so merges and queue updates apply in
/// call order, while preparing a batch (grouping, salts, compression) and waiting for replies overlap freely: a host
/// with two batches in flight keeps Redis busy without leaving stale queue entries behind.
/// </summary>
internal sealed class IngestSequencer
{
    private readonly Lock _lock = new();
    private Task _scriptsSent = Task.CompletedTask;
    private Task _queueSent = Task.CompletedTask;

    /// <summary>Takes the next place in line; dispose the turn when the call ends, however it ends.</summary>
    public Turn Enter()
    {
        var scripts = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var queue = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            var turn = new Turn(_scriptsSent, scripts, _queueSent, queue);
            _scriptsSent = scripts.Task;
            _queueSent = queue.Task;
            return turn;
        }
    }

    /// <summary>One call's place in line.</summary>
    internal sealed class Turn : IDisposable
    {
        private readonly Task _previousScripts;
        private readonly TaskCompletionSource _scripts;
        private readonly Task _previousQueue;
        private readonly TaskCompletionSource _queue;

        public Turn(Task previousScripts, TaskCompletionSource scripts, Task previousQueue, TaskCompletionSource queue)
        {
            _previousScripts = previousScripts;
            _scripts = scripts;
            _previousQueue = previousQueue;
            _queue = queue;
        }

        /// <summary>Waits until the previous call has sent its script calls.</summary>
        public Task WaitToSendScriptsAsync(CancellationToken cancellationToken) => _previousScripts.WaitAsync(cancellationToken);

        /// <summary>Lets the next call send its script calls.</summary>
        public void ScriptsSent() => _scripts.TrySetResult();

        /// <summary>Waits until the previous call has sent its queue update.</summary>
        public Task WaitToUpdateQueueAsync(CancellationToken cancellationToken) => _previousQueue.WaitAsync(cancellationToken);

        /// <summary>Lets the next call send its queue update.</summary>
        public void QueueUpdateSent() => _queue.TrySetResult();

        /// <summary>
        /// Passes the turn on; a call that failed or was cancelled early passes it on only once the previous call
        /// has, so the calls behind it still go in order.
        /// </summary>
        public void Dispose()
        {
            PassOn(_previousScripts, _scripts);
            PassOn(_previousQueue, _queue);
        }

        private static void PassOn(Task previous, TaskCompletionSource own)
        {
            if (own.Task.IsCompleted)
            {
                return;
            }

            if (previous.IsCompleted)
            {
                own.TrySetResult();
                return;
            }

            previous.ContinueWith(static (_, state) => ((TaskCompletionSource)state!).TrySetResult(), own, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }
}
