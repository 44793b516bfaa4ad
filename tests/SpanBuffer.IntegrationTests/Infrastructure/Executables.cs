namespace SpanBuffer.IntegrationTests.Infrastructure;

/// <summary>Finds programs on PATH.</summary>
internal static class Executables
{
    /// <summary>Returns the full path of <paramref name="name"/> on PATH, or null when it is not there.</summary>
    public static string? Find(string name)
    {
        var fileName = OperatingSystem.IsWindows() ? name + ".exe" : name;
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var directory in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, fileName);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
