using System.Collections.Concurrent;

namespace SpanBuffer.Flush;

/// <summary>
/// Short-lived payload memory of one call: compressed frames of an ingest call (read until Redis answered the
/// writes) and decompressed payloads of a flush (read until the spans are enriched into buffers of their own). An
/// arena hands out slices of large reusable slabs and is reset when the call completes, so steady-state ingest and
/// flush allocate nothing for payload frames.
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
