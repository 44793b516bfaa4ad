namespace SpanBuffer.Redis;

/// <summary>The Lua scripts embedded in this assembly (<c>Scripts/*.lua</c>), read once.</summary>
internal static class LuaScripts
{
    public static RedisScript AddBuffer { get; } = new(Load("add-buffer.lua"));

    public static RedisScript FlushSnapshot { get; } = new(Load("flush-snapshot.lua"));

    public static RedisScript CleanupSegment { get; } = new(Load("cleanup-segment.lua"));

    public static RedisScript ReleaseLock { get; } = new(Load("release-lock.lua"));

    public static RedisScript MemoryInfo { get; } = new(Load("memory-info.lua"));

    internal static string Load(string fileName)
    {
        var name = "SpanBuffer.Scripts." + fileName;
        using var stream = typeof(LuaScripts).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Embedded script '{name}' is missing from the SpanBuffer assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
