using System.Buffers;
using System.Buffers.Binary;
using SpanBuffer.Models;
using ZstdSharp;

namespace SpanBuffer.Ingest;

/// <summary>
/// How payloads are stored in a payload set: one zstd frame of the chunk's payloads joined by 0x00, or
/// (compression level -1) one raw payload per member. A member without the zstd magic is one raw payload,
/// which keeps uncompressed writes of either implementation readable.
/// </summary>
internal static class PayloadCodec
{
    public const int RawLevel = -1;

    private const uint ZstdMagicLittleEndian = 0xFD2FB528;

    [ThreadStatic]
    private static Compressor? t_compressor;

    [ThreadStatic]
    private static int t_compressorLevel;

    [ThreadStatic]
    private static Decompressor? t_decompressor;

    public static bool IsCompressed(ReadOnlySpan<byte> member) =>
        member.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(member) == ZstdMagicLittleEndian;

    /// <summary>Compresses the payloads joined by 0x00 into one zstd frame.</summary>
    public static byte[] Compress(ReadOnlySpan<Span> spans, int level) =>
        Compress(spans, level, arena: null).ToArray();

    /// <summary>
    /// Compresses the payloads joined by 0x00 into one zstd frame, placed in <paramref name="arena"/> when given (valid
    /// until the arena is reset) or in a new array.
    /// </summary>
    public static ReadOnlyMemory<byte> Compress(ReadOnlySpan<Span> spans, int level, Flush.PayloadArena? arena)
    {
        var joinedLength = Math.Max(spans.Length - 1, 0);
        foreach (var span in spans)
        {
            joinedLength += span.Payload.Length;
        }

        var bound = Compressor.GetCompressBound(joinedLength);
        var joined = ArrayPool<byte>.Shared.Rent(Math.Max(joinedLength, 1));
        var scratch = ArrayPool<byte>.Shared.Rent(bound);
        try
        {
            var position = 0;
            for (var i = 0; i < spans.Length; i++)
            {
                if (i > 0)
                {
                    joined[position++] = 0;
                }

                spans[i].Payload.Span.CopyTo(joined.AsSpan(position));
                position += spans[i].Payload.Length;
            }

            var written = GetCompressor(level).Wrap(joined.AsSpan(0, joinedLength), scratch.AsSpan(0, bound));
            var frame = arena?.Allocate(written) ?? new byte[written];
            scratch.AsSpan(0, written).CopyTo(frame.Span);
            return frame;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(joined);
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>
    /// Adds the payloads of one stored member to <paramref name="payloads"/>. Decompressed content goes into
    /// <paramref name="arena"/> when given (valid until the arena is reset), else into a new array.
    /// </summary>
    public static void Decode(ReadOnlyMemory<byte> member, List<ReadOnlyMemory<byte>> payloads, Flush.PayloadArena? arena = null)
    {
        if (!IsCompressed(member.Span))
        {
            payloads.Add(member);
            return;
        }

        Memory<byte> content;
        try
        {
            content = Decompress(member.Span, arena);
        }
        catch (Exception ex) when (ex is ZstdException or InvalidDataException)
        {
            // A corrupt frame must not fail every flush of its segment: keep it as one payload, which is not a
            // JSON object and so is dropped and reported as an invalid payload (its other spans count as dropped).
            payloads.Add(member);
            return;
        }

        ReadOnlyMemory<byte> memory = content;
        while (true)
        {
            var separator = memory.Span.IndexOf((byte)0);
            if (separator < 0)
            {
                payloads.Add(memory);
                return;
            }

            payloads.Add(memory[..separator]);
            memory = memory[(separator + 1)..];
        }
    }

    private static Memory<byte> Decompress(ReadOnlySpan<byte> frame, Flush.PayloadArena? arena)
    {
        var decompressor = t_decompressor ??= new Decompressor();
        var size = Decompressor.GetDecompressedSize(frame);
        if (size == 0 || size > int.MaxValue)
        {
            return decompressor.Unwrap(frame).ToArray();
        }

        var content = arena?.Allocate((int)size) ?? new byte[size];
        var written = decompressor.Unwrap(frame, content.Span);
        if ((ulong)written != size)
        {
            throw new InvalidDataException($"zstd frame declared {size} bytes but held {written}.");
        }

        return content;
    }

    private static Compressor GetCompressor(int level)
    {
        if (t_compressor is null || t_compressorLevel != level)
        {
            t_compressor?.Dispose();
            t_compressor = new Compressor(level);
            t_compressorLevel = level;
        }

        return t_compressor;
    }
}
