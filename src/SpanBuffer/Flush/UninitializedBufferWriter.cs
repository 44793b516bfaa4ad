using System.Buffers;

namespace SpanBuffer.Flush;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> over an array that is not zeroed first: enriched spans overwrite every byte they
/// keep, and clearing hundreds of kilobytes per segment only to overwrite them was a visible share of flush CPU.
/// </summary>
internal sealed class UninitializedBufferWriter(int capacity) : IBufferWriter<byte>
{
    private byte[] _buffer = GC.AllocateUninitializedArray<byte>(Math.Max(capacity, 256));
    private int _written;

    public int WrittenCount => _written;

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);

    public void Advance(int count) => _written += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsSpan(_written);
    }

    private void Reserve(int sizeHint)
    {
        var needed = _written + Math.Max(sizeHint, 1);
        if (needed > _buffer.Length)
        {
            var grown = GC.AllocateUninitializedArray<byte>(Math.Max(needed, _buffer.Length * 2));
            _buffer.AsSpan(0, _written).CopyTo(grown);
            _buffer = grown;
        }
    }
}
