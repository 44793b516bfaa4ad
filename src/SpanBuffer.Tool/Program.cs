using SpanBuffer.Tool;

using var interrupted = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    interrupted.Cancel();
};

return await ToolApp.RunAsync(args, Console.Out, Console.Error, TimeProvider.System, interrupted.Token).ConfigureAwait(false);
