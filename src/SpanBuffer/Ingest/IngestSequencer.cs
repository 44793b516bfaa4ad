namespace SpanBuffer.Ingest;

/// <summary>
/// Keeps concurrent ingest calls equivalent to running them one after another in call order: a call sends its script
/// calls only after the previous call sent its own, and its queue update only after the previous call sent its queue
/// update. Redis runs the commands of a connection in the order they were sent, so merges and queue updates apply in
/// call order, while preparing a batch (grouping, salts, compression) and waiting for replies overlap freely: a host
/// with two batches in flight keeps Redis busy without leaving stale queue entries behind.
/// <para>
/// A call whose script calls met a lost script cache runs some of them again after the next call sent its own; it
/// then hands the next call the traces it re-ran (see <see cref="Turn.ScriptsSettled"/>), so that call re-runs its
/// calls of those traces after them, and the order holds per trace.
/// </para>
/// </summary>
internal sealed class IngestSequencer
{
    private readonly Lock _lock = new();
    private Task _scriptsSent = Task.CompletedTask;
    private Task _queueSent = Task.CompletedTask;
    private Task<IReadOnlySet<string>> _scriptsSettled = Task.FromResult<IReadOnlySet<string>>(new HashSet<string>());

    /// <summary>Takes the next place in line; dispose the turn when the call ends, however it ends.</summary>
    public Turn Enter()
    {
        var scripts = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var queue = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var settled = new TaskCompletionSource<IReadOnlySet<string>>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            var turn = new Turn(_scriptsSent, scripts, _queueSent, queue, _scriptsSettled, settled);
            _scriptsSent = scripts.Task;
            _queueSent = queue.Task;
            _scriptsSettled = settled.Task;
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
        private readonly Task<IReadOnlySet<string>> _previousSettled;
        private readonly TaskCompletionSource<IReadOnlySet<string>> _settled;

        public Turn(
            Task previousScripts,
            TaskCompletionSource scripts,
            Task previousQueue,
            TaskCompletionSource queue,
            Task<IReadOnlySet<string>> previousSettled,
            TaskCompletionSource<IReadOnlySet<string>> settled)
        {
            _previousScripts = previousScripts;
            _scripts = scripts;
            _previousQueue = previousQueue;
            _queue = queue;
            _previousSettled = previousSettled;
            _settled = settled;
        }

        /// <summary>
        /// Gets the traces whose script calls the calls before this one ran again, possibly after this call sent its
        /// own; it completes once every earlier call's script calls took effect.
        /// </summary>
        public Task<IReadOnlySet<string>> PreviousScriptsSettled => _previousSettled;

        /// <summary>Tells the next call that this call's script calls took effect, and which traces were re-run.</summary>
        /// <param name="rerunTraces">The traces this call (or one before it) ran again.</param>
        public void ScriptsSettled(IReadOnlySet<string> rerunTraces) => _settled.TrySetResult(rerunTraces);

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
            if (!_settled.Task.IsCompleted)
            {
                // A failed call re-ran nothing that matters to the next one (the host replays it later anyway).
                _previousSettled.ContinueWith(
                    static (previous, state) => ((TaskCompletionSource<IReadOnlySet<string>>)state!).TrySetResult(
                        previous.IsCompletedSuccessfully ? previous.Result : new HashSet<string>()),
                    _settled,
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
            }
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
