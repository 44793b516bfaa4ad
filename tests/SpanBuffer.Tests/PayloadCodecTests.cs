using System.Text;
using SpanBuffer.Ingest;
using SpanBuffer.Models;
using static SpanBuffer.Tests.TestSpans;

namespace SpanBuffer.Tests;

public sealed class PayloadCodecTests
{
    private static Span[] Spans(params string[] payloads) =>
        [.. payloads.Select((p, i) => Create((char)('a' + i), null, payload: p))];

    private static List<string> Decode(ReadOnlyMemory<byte> member)
    {
        var payloads = new List<ReadOnlyMemory<byte>>();
        PayloadCodec.Decode(member, payloads);
        return [.. payloads.Select(p => Encoding.UTF8.GetString(p.Span))];
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(19)]
    public void Compress_ThenDecode_GivesEveryPayloadInOrder(int level)
    {
        string[] payloads = ["{\"span_id\":\"a\"}", "{\"n\":1.50e+3,\"s\":\"caf\\u00e9\"}", "{}"];

        var member = PayloadCodec.Compress(Spans(payloads), level);

        Assert.True(PayloadCodec.IsCompressed(member));
        Assert.Equal(payloads, Decode(member));
    }

    [Fact]
    public void Compress_EmptyFirstPayload_KeepsTheSeparatorAndEveryPayload()
    {
        Assert.Equal(["", "{}", ""], Decode(PayloadCodec.Compress(Spans("", "{}", ""), 0)));
    }

    [Fact]
    public void Compress_IntoArena_MatchesCompressIntoNewArray()
    {
        var spans = Spans("{\"a\":1}", "{\"b\":2}");
        var arena = new SpanBuffer.Flush.PayloadArena();

        var first = PayloadCodec.Compress(spans, 0, arena);
        var second = PayloadCodec.Compress(spans, 0, arena);

        Assert.Equal(PayloadCodec.Compress(spans, 0), first.ToArray());
        Assert.Equal(first.ToArray(), second.ToArray());
        Assert.False(first.Span.Overlaps(second.Span));
    }

    [Fact]
    public void Decode_CorruptFrame_AddsTheMemberAsOnePayloadInsteadOfThrowing()
    {
        var frame = PayloadCodec.Compress(Spans("{\"a\":1}", "{\"b\":2}"), 0);
        var corrupt = frame[..(frame.Length / 2)];
        var payloads = new List<ReadOnlyMemory<byte>>();

        PayloadCodec.Decode(corrupt, payloads);

        Assert.Equal(corrupt, Assert.Single(payloads).ToArray());
    }

    [Fact]
    public void Compress_SinglePayload_DecodesToThatPayload()
    {
        Assert.Equal(["{\"only\":true}"], Decode(PayloadCodec.Compress(Spans("{\"only\":true}"), 0)));
    }

    [Fact]
    public void Compress_Payloads_AreJoinedByZeroBytes()
    {
        // Frame content is "{}\0[]": a zstd frame with the content size in its header, as the reference writes.
        var member = PayloadCodec.Compress(Spans("{}", "[]"), 3);
        var content = new ZstdSharp.Decompressor().Unwrap(member).ToArray();

        Assert.Equal("{}\0[]"u8.ToArray(), content);
    }

    [Fact]
    public void Decode_RawMember_AddsItUnchanged()
    {
        ReadOnlyMemory<byte> member = "{\"span_id\":\"a\"}"u8.ToArray();
        var payloads = new List<ReadOnlyMemory<byte>>();

        PayloadCodec.Decode(member, payloads);

        Assert.True(member.Span.SequenceEqual(Assert.Single(payloads).Span));
        Assert.False(PayloadCodec.IsCompressed(member.Span));
    }

    [Fact]
    public void Decode_AppendsToExistingPayloads()
    {
        var payloads = new List<ReadOnlyMemory<byte>> { "{}"u8.ToArray() };

        PayloadCodec.Decode(PayloadCodec.Compress(Spans("{\"a\":1}", "{\"b\":2}"), 0), payloads);

        Assert.Equal(["{}", "{\"a\":1}", "{\"b\":2}"], payloads.Select(p => Encoding.UTF8.GetString(p.Span)));
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x28, 0xB5, 0x2F })]
    [InlineData(new byte[] { 0x7B, 0x7D })]
    public void IsCompressed_ShortOrNonZstdMember_IsFalse(byte[] member)
    {
        Assert.False(PayloadCodec.IsCompressed(member));
    }

    [Fact]
    public void IsCompressed_ZstdMagic_IsTrue()
    {
        Assert.True(PayloadCodec.IsCompressed(new byte[] { 0x28, 0xB5, 0x2F, 0xFD, 0 }));
    }
}
