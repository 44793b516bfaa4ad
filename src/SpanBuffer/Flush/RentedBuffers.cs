using System.Buffers;

namespace SpanBuffer.Flush;

/// <summary>
/// Pooled arrays that live for one flush: decompressed payloads are only read until the spans are enriched
/// into their own output buffers, so the flush returns them to the pool when it completes.
/// </summary>
internal sealed class RentedBuffers : IDisposable
{
    private readonly List<byte[]> _rented = [];

    public byte[] Rent(int minimumLength)
    {
        var array = ArrayPool<byte>.Shared.Rent(minimumLength);
        lock (_rented)
        {
            _rented.Add(array);
        }

        return array;
    }

    public void Dispose()
    {
        lock (_rented)
        {
            foreach (var array in _rented)
            {
                ArrayPool<byte>.Shared.Return(array);
            }

            _rented.Clear();
        }
    }
}
