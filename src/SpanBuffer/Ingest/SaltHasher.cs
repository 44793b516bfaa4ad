using System.Text;
using Org.BouncyCastle.Crypto.Digests;
using SpanBuffer.Models;

namespace SpanBuffer.Ingest;

/// <summary>
/// The salt of a subsegment: BLAKE2b with a 16-byte digest over its concatenated span ids, lowercase hex.
/// The reference computes the same, so a batch replayed by either implementation hits the same payload key.
/// </summary>
internal static class SaltHasher
{
    private const int DigestBytes = 16;

    public static string Compute(ReadOnlySpan<Span> spans)
    {
        var digest = new Blake2bDigest(DigestBytes * 8);
        foreach (var span in spans)
        {
            Update(digest, span.SpanId);
        }

        return Finish(digest);
    }

    public static string Compute(params ReadOnlySpan<string> spanIds)
    {
        var digest = new Blake2bDigest(DigestBytes * 8);
        foreach (var id in spanIds)
        {
            Update(digest, id);
        }

        return Finish(digest);
    }

    private static void Update(Blake2bDigest digest, string spanId)
    {
        Span<byte> utf8 = stackalloc byte[256];
        if (Encoding.UTF8.GetMaxByteCount(spanId.Length) <= utf8.Length)
        {
            digest.BlockUpdate(utf8[..Encoding.UTF8.GetBytes(spanId, utf8)]);
        }
        else
        {
            digest.BlockUpdate(Encoding.UTF8.GetBytes(spanId));
        }
    }

    private static string Finish(Blake2bDigest digest)
    {
        Span<byte> hash = stackalloc byte[DigestBytes];
        digest.DoFinal(hash);
        return Convert.ToHexStringLower(hash);
    }
}
