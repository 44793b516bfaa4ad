using SpanBuffer.Redis;

namespace SpanBuffer.Tests;

/// <summary>Parsing the <c>INFO memory</c> reply that memory-info.lua returns from each primary.</summary>
public sealed class MemoryInfoParseTests
{
    [Fact]
    public void ParseMemoryInfo_WithMaxMemory_AvailableIsMaxMemory()
    {
        const string Info = "# Memory\r\nused_memory:1224944\r\nused_memory_human:1.17M\r\ntotal_system_memory:25276182528\r\nmaxmemory:104857600\r\nmaxmemory_policy:noeviction\r\n";

        var node = RedisSpanStore.ParseMemoryInfo("127.0.0.1:6379", Info);

        Assert.Equal(new RedisNodeMemory("127.0.0.1:6379", 1224944, 104857600), node);
    }

    [Fact]
    public void ParseMemoryInfo_NoMaxMemory_AvailableIsTheHostsMemory()
    {
        var node = RedisSpanStore.ParseMemoryInfo("n", "used_memory:10\nmaxmemory:0\ntotal_system_memory:1000\n");

        Assert.Equal(10, node.UsedBytes);
        Assert.Equal(1000, node.AvailableBytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# Memory\r\nmaxmemory:0\r\n")]
    [InlineData("used_memory:lots\r\n")]
    public void ParseMemoryInfo_NoIntegerUsedMemory_ThrowsFormatException(string info)
    {
        Assert.Throws<FormatException>(() => RedisSpanStore.ParseMemoryInfo("n", info));
    }
}
