namespace SpanBuffer.Demo;

/// <summary>Where ingest messages come from: a JSONL file or the generated workload.</summary>
internal abstract class MessageSource
{
    /// <summary>Gets a short description for the summary.</summary>
    public abstract string Description { get; }

    /// <summary>Yields each message's bytes (a line without its newline; blank lines are skipped) with its line number.</summary>
    public abstract IAsyncEnumerable<(long Line, byte[] Message)> ReadAsync(CancellationToken cancellationToken);

    public static MessageSource For(DemoOptions options) =>
        options.InputPath is { } path ? new JsonlFileSource(path) : new GeneratedSource(options.Workload);

    private sealed class GeneratedSource(WorkloadSettings settings) : MessageSource
    {
        public override string Description => $"generated workload ({settings.Traces} traces, seed {settings.Seed})";

        public override IAsyncEnumerable<(long Line, byte[] Message)> ReadAsync(CancellationToken cancellationToken) =>
            WorkloadGenerator.Generate(settings).Select((message, index) => (index + 1L, message)).ToAsyncEnumerable();
    }

    /// <summary>Reads a file line by line as bytes: the payload is exactly the line's bytes (a trailing CR is dropped).</summary>
    private sealed class JsonlFileSource(string path) : MessageSource
    {
        private const int ChunkSize = 1 << 16;

        public override string Description => path;

        public override async IAsyncEnumerable<(long Line, byte[] Message)> ReadAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            var buffer = new byte[ChunkSize];
            var start = 0;
            var end = 0;
            long line = 0;
            while (true)
            {
                if (start > 0 && start == end)
                {
                    start = end = 0;
                }

                if (end == buffer.Length)
                {
                    if (start > 0)
                    {
                        Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                        end -= start;
                        start = 0;
                    }
                    else
                    {
                        Array.Resize(ref buffer, buffer.Length * 2);
                    }
                }

                var read = await stream.ReadAsync(buffer.AsMemory(end), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    if (end > start)
                    {
                        line++;
                        if (ToMessage(buffer, start, end - start) is { } last)
                        {
                            yield return (line, last);
                        }
                    }

                    yield break;
                }

                end += read;
                int newline;
                while ((newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n')) >= 0)
                {
                    line++;
                    var message = ToMessage(buffer, start, newline);
                    start += newline + 1;
                    if (message is not null)
                    {
                        yield return (line, message);
                    }
                }
            }
        }

        /// <summary>Copies one line without a trailing CR; null for a blank line (only whitespace).</summary>
        private static byte[]? ToMessage(byte[] buffer, int start, int length)
        {
            var line = buffer.AsSpan(start, length);
            if (line.EndsWith((byte)'\r'))
            {
                line = line[..^1];
            }

            return line.Trim(" \t"u8).IsEmpty ? null : line.ToArray();
        }
    }
}
