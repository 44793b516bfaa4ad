using System.Runtime.InteropServices;
using SpanBuffer.Demo;

// Ctrl+C and SIGTERM stop the run cleanly: the flusher stops, the local redis-server is stopped and its
// directory deleted. A second Ctrl+C ends the process at once.
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    if (!stop.IsCancellationRequested)
    {
        e.Cancel = true;
        stop.Cancel();
    }
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});

return await DemoApp.RunAsync(args, Console.Out, Console.Error, stop.Token);
