namespace SpanBuffer.IntegrationTests.Infrastructure;

/// <summary>A temporary directory that is deleted, with everything in it, on dispose.</summary>
internal sealed class ScratchDirectory : IAsyncDisposable
{
    private ScratchDirectory(string path) => Path = path;

    public string Path { get; }

    public static ScratchDirectory Create() =>
        new(Directory.CreateTempSubdirectory("spanbuffer-redis-").FullName);

    public ValueTask DisposeAsync()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }

        return ValueTask.CompletedTask;
    }
}
