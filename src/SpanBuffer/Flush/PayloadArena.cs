using System.Collections.Concurrent;

namespace SpanBuffer.Flush;

/// <summary>
/// Memory for decompressed payloads during one flush. Payloads are only read until their spans are enriched into
/// output buffers of their own, so an arena hands out slices of large reusable slabs and is reset when the flush
/// completes: steady-state flushing allocates nothing for decompression.
/// </summary>
internal sealed class PayloadArena
{
    private const int SlabSize = 1 << 20;

    private readonly List<byte[]> _slabs = [];
    private int _slab;
    private int _offset;

    public Memory<byte> Allocate(int length)
    {
        if (length > SlabSize / 4)
        {
            // Rare, large payload sets: a dedicated array keeps slabs small and their reuse high.
            return GC.AllocateUninitializedArray<byte>(length);
        }

        lock (_slabs)
        {
            if (_slab < _slabs.Count && _offset + length > SlabSize)
            {
                _slab++;
                _offset = 0;
            }

            if (_slab == _slabs.Count)
            {
                _slabs.Add(GC.AllocateUninitializedArray<byte>(SlabSize));
            }

            var memory = _slabs[_slab].AsMemory(_offset, length);
            _offset += length;
            return memory;
        }
    }

    private void Reset()
    {
        _slab = 0;
        _offset = 0;
    }

    /// <summary>Arenas of finished flushes, ready for the next one.</summary>
    internal sealed class Pool
    {
        private const int MaxPooled = 4;

        private readonly ConcurrentBag<PayloadArena> _arenas = [];

        public PayloadArena Rent() => _arenas.TryTake(out var arena) ? arena : new PayloadArena();

        /// <summary>Returns an arena whose memory nobody reads any more (never after a failed or cancelled flush).</summary>
        public void Return(PayloadArena arena)
        {
            arena.Reset();
            if (_arenas.Count < MaxPooled)
            {
                _arenas.Add(arena);
            }
        }
    }
}
