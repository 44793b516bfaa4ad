using System.Buffers;
using SpanBuffer.Models;

namespace SpanBuffer.Demo;

/// <summary>
/// Appends each segment message to a file as one line, exactly the JSON the sink receives
/// (<see cref="SegmentMessage.WriteTo"/>), and counts what went out. A message is acknowledged once its line is
/// handed to the operating system, so the flusher deletes a segment from Redis only after it is in the file.
/// Losses reported by the flusher are summed per reason.
/// </summary>
internal sealed class FileSegmentSink : ISegmentSink, IAsyncDisposable
{
    private readonly FileStream _file;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ArrayBufferWriter<byte> _line = new(64 * 1024);
    private readonly long[] _lost = new long[Enum.GetValues<SegmentLossReason>().Length];
    private long _messages;
    private long _spans;
    private long _bytes;
    private long _chunks;

    public FileSegmentSink(string path)
    {
        Path = path;
        _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 64 * 1024);
    }

    public string Path { get; }

    /// <summary>Gets the messages written.</summary>
    public long Messages => Interlocked.Read(ref _messages);

    /// <summary>Gets the spans in the messages written (each span is in exactly one message of its segment).</summary>
    public long Spans => Interlocked.Read(ref _spans);

    /// <summary>Gets the bytes written, newlines included.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Gets the messages that are chunks of an oversized segment (<c>skip_enrichment</c>).</summary>
    public long ChunkMessages => Interlocked.Read(ref _chunks);

    /// <summary>Gets the reported losses for <paramref name="reason"/> (spans; segments for <see cref="SegmentLossReason.ExpiredBeforeFlush"/>).</summary>
    public long Lost(SegmentLossReason reason) => Interlocked.Read(ref _lost[(int)reason]);

    public async Task ProduceAsync(SegmentMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _line.ResetWrittenCount();
            message.WriteTo(_line);
            _line.Write("\n"u8);
            await _file.WriteAsync(_line.WrittenMemory, cancellationToken).ConfigureAwait(false);
            await _file.FlushAsync(cancellationToken).ConfigureAwait(false);
            Interlocked.Increment(ref _messages);
            Interlocked.Add(ref _spans, message.Spans.Count);
            Interlocked.Add(ref _bytes, _line.WrittenCount);
            if (message.SkipEnrichment)
            {
                Interlocked.Increment(ref _chunks);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public Task ReportLossesAsync(IReadOnlyList<SegmentLoss> losses, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(losses);
        foreach (var loss in losses)
        {
            Interlocked.Add(ref _lost[(int)loss.Reason], loss.Count);
        }

        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _file.DisposeAsync().ConfigureAwait(false);
        _gate.Dispose();
    }
}
