using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace SpanBuffer.Tests.Docs;

/// <summary>
/// Keeps the documentation in step with the code: every metric instrument, log event and option is documented, every
/// relative link resolves, and every <c>$ spanbuffer</c> line is a runnable command in a <c>console</c> block. The
/// checks read the sources, so adding an instrument, an event or an option without documenting it fails here.
/// </summary>
public sealed class DocumentationTests
{
    private static readonly Lazy<string> s_root = new(FindRepositoryRoot);

    [Fact]
    public void Operations_DocumentsEveryMetricInstrument()
    {
        var instruments = DocumentationChecks.MetricInstrumentNames(Read("src/SpanBuffer/Diagnostics/SpanBufferMetrics.cs"));

        // The parser must keep finding them: the library has more than forty.
        Assert.True(instruments.Count >= 40, $"Only {instruments.Count} instruments parsed from SpanBufferMetrics.cs: {string.Join(", ", instruments)}");
        var missing = DocumentationChecks.Undocumented(instruments, Read("docs/operations.md"));
        Assert.True(missing.Count == 0, $"docs/operations.md does not document these instruments: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Operations_DocumentsEveryLogEventWithItsIdAndLevel()
    {
        var events = LogEventsInSources();
        Assert.True(events.Count >= 20, $"Only {events.Count} [LoggerMessage] events parsed from src/SpanBuffer.");
        var duplicates = events.GroupBy(e => e.Id).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, $"Event ids used twice: {string.Join(", ", duplicates)}");

        var problems = DocumentationChecks.LogEventProblems(events, Read("docs/operations.md"));
        Assert.True(problems.Count == 0, "docs/operations.md, log events:\n" + string.Join("\n", problems));
    }

    [Fact]
    public void ConceptsOrOperations_DocumentEveryOption()
    {
        var options = typeof(SpanBufferOptions)
            .GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => p.Name)
            .ToList();
        Assert.Contains(nameof(SpanBufferOptions.Timeout), options);

        var docs = Read("docs/concepts.md") + "\n" + Read("docs/operations.md");
        var missing = DocumentationChecks.Undocumented(options, docs);
        Assert.True(missing.Count == 0, $"Neither docs/concepts.md nor docs/operations.md documents these options: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Readme_HoldsEveryTestedSnippetVerbatim()
    {
        // The integration tests run the README's code between "// README: <name> begin" and "// README: <name> end";
        // the README must show exactly that code (dedented), or the tested code and the documented code drift apart.
        // The tests point the code at their own Redis and key prefix, where the README shows the defaults; and either
        // side may explain a line with a trailing comment.
        var readme = WithoutTrailingComments(Read("README.md").ReplaceLineEndings("\n"));
        var snippets = Directory.GetFiles(Path.Combine(s_root.Value, "tests"), "*.cs", SearchOption.AllDirectories)
            .Where(file => !file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(file => ReadmeSnippets(File.ReadAllText(file).ReplaceLineEndings("\n")))
            .Select(s => (s.Name, Code: WithoutTrailingComments(AsInReadme(s.Code))))
            .ToList();

        Assert.True(snippets.Count >= 4, $"Only {snippets.Count} README snippets found in the tests.");
        var missing = snippets.Where(s => !readme.Contains(s.Code, StringComparison.Ordinal)).Select(s => s.Name).ToList();
        Assert.True(missing.Count == 0, $"README.md does not show these tested snippets verbatim: {string.Join(", ", missing)}");
    }

    [Fact]
    public void ReadmeSnippets_AreDedentedAndFoundByName()
    {
        var source = "class C\n{\n    void M()\n    {\n        // README: demo begin\n        var a = 1;\n\n        if (a > 0)\n        {\n            a++;\n        }\n        // README: demo end\n    }\n}\n";

        var snippet = Assert.Single(ReadmeSnippets(source));

        Assert.Equal("demo", snippet.Name);
        Assert.Equal("var a = 1;\n\nif (a > 0)\n{\n    a++;\n}", snippet.Code);
    }

    private static string AsInReadme(string code) => string.Join(
        "\n",
        code.Replace("new SpanBufferOptions { KeyPrefix = keyPrefix }", "new SpanBufferOptions()", StringComparison.Ordinal)
            .Replace("(connectionString)", "(\"localhost:6379\")", StringComparison.Ordinal)
            .Replace("= connectionString;", "= \"localhost:6379\";", StringComparison.Ordinal)
            .Split('\n')
            .Where(line => line.Trim() != "options.KeyPrefix = keyPrefix;"));

    private static string WithoutTrailingComments(string text) =>
        Regex.Replace(text, @"(?<=\S)[ \t]+//[^\n""]*$", string.Empty, RegexOptions.Multiline);

    private static IEnumerable<(string Name, string Code)> ReadmeSnippets(string source)
    {
        foreach (Match begin in Regex.Matches(source, @"^[ \t]*// README: (?<name>[\w-]+) begin[ \t]*\n", RegexOptions.Multiline))
        {
            var name = begin.Groups["name"].Value;
            var end = Regex.Match(source[(begin.Index + begin.Length)..], $@"^[ \t]*// README: {Regex.Escape(name)} end", RegexOptions.Multiline);
            if (!end.Success)
            {
                throw new InvalidOperationException($"README snippet '{name}' has no end marker.");
            }

            var lines = source.Substring(begin.Index + begin.Length, end.Index).TrimEnd('\n').Split('\n');
            var indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
            yield return (name, string.Join("\n", lines.Select(l => l.Trim().Length == 0 ? string.Empty : l[indent..])));
        }
    }

    [Fact]
    public void Markdown_EveryRelativeLinkResolves()
    {
        var files = MarkdownFiles();
        Assert.Contains(files, f => f.EndsWith("operations.md", StringComparison.Ordinal));
        var problems = files
            .SelectMany(file => DocumentationChecks.BrokenLinks(Path.GetRelativePath(s_root.Value, file), File.ReadAllText(file), ResolveLink(file)))
            .ToList();
        Assert.True(problems.Count == 0, "Broken links:\n" + string.Join("\n", problems));
    }

    [Fact]
    public void Readme_LinksEveryDocsPage()
    {
        var readme = Read("README.md");
        var unlinked = Directory.GetFiles(Path.Combine(s_root.Value, "docs"), "*.md")
            .Select(f => "docs/" + Path.GetFileName(f))
            .Where(page => !readme.Contains("](" + page, StringComparison.Ordinal))
            .ToList();
        Assert.True(unlinked.Count == 0, $"README.md does not link: {string.Join(", ", unlinked)}");
    }

    [Fact]
    public void Markdown_ToolCommandsAreRunnableConsoleLines()
    {
        var toolOptions = Path.Combine(s_root.Value, "src", "SpanBuffer.Tool", "ToolOptions.cs");
        var knownFlags = File.Exists(toolOptions) ? DocumentationChecks.ToolFlags(File.ReadAllText(toolOptions)) : null;
        var problems = MarkdownFiles()
            .SelectMany(file => DocumentationChecks.ToolLineProblems(Path.GetRelativePath(s_root.Value, file), File.ReadAllText(file), knownFlags))
            .ToList();
        Assert.True(problems.Count == 0, "Tool command lines:\n" + string.Join("\n", problems));
    }

    // The checks themselves must fail on what they guard against.
    [Fact]
    public void Checks_NewInstrumentWithoutDocs_IsReported()
    {
        const string Source = """
            Old = meter.CreateCounter<long>("spanbuffer.old.thing", "{span}", "Old.");
            New = meter.CreateHistogram<double>(
                "spanbuffer.new.thing", "s", "New.");
            Gauge = meter.CreateObservableGauge("spanbuffer.observed", () => 1);
            """;
        var names = DocumentationChecks.MetricInstrumentNames(Source);

        Assert.Equal(["spanbuffer.old.thing", "spanbuffer.new.thing", "spanbuffer.observed"], names);
        Assert.Equal(["spanbuffer.new.thing", "spanbuffer.observed"], DocumentationChecks.Undocumented(names, "| `spanbuffer.old.thing` | counter |\n`spanbuffer.new.thing.extra`"));
    }

    [Fact]
    public void Checks_LogEventWithoutDocsOrWithAWrongId_IsReported()
    {
        const string Source = """
            [LoggerMessage(1, LogLevel.Debug, "Done (in {Ms} ms)", EventName = "Done")]
            public static partial void Done(ILogger logger, double ms);

            [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "Odd [x)] text")]
            internal static partial void SomethingOdd(ILogger logger);

            [LoggerMessage(8, LogLevel.Error, "Gone")]
            private static partial void Gone(ILogger logger);
            """;
        var events = DocumentationChecks.LogEvents(Source);
        Assert.Equal([new LogEvent(1, "Done", "Debug"), new LogEvent(7, "SomethingOdd", "Warning"), new LogEvent(8, "Gone", "Error")], events);

        const string Docs = """
            | id | name | level | meaning | what to do |
            |---|---|---|---|---|
            | 1 | `Done` | Debug | done | - |
            | 9 | `SomethingOdd` | Warning | odd | - |
            | new | `Gone` | Error | gone | - |
            """;
        var problems = DocumentationChecks.LogEventProblems(events, Docs);

        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.Contains("SomethingOdd", StringComparison.Ordinal) && p.Contains('7', StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Gone", StringComparison.Ordinal));
    }

    [Fact]
    public void Checks_BrokenLinkAndAnchor_AreReported()
    {
        const string Markdown = """
            # Page

            ## Known section

            [ok](other.md) [ok anchor](#known-section) [web](https://example.com/x) [missing](gone.md)
            [bad anchor](#unknown) [other anchor](other.md#nowhere)

            ```sh
            [not a link](inside-a-code-block.md)
            ```
            """;
        var problems = DocumentationChecks.BrokenLinks("page.md", Markdown, target => target switch
        {
            "other.md" => "# Other\n\n## Somewhere\n",
            "" => Markdown,
            _ => null,
        });

        Assert.Equal(3, problems.Count);
        Assert.Contains(problems, p => p.Contains("gone.md", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("#unknown", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("other.md#nowhere", StringComparison.Ordinal));
    }

    [Fact]
    public void Checks_ToolLineOutsideConsoleBlockOrWithUnknownFlag_IsReported()
    {
        const string Markdown = """
            ```console
            $ spanbuffer inspect --redis $REDIS --shards 4
            $ spanbuffer watch --redis $REDIS --interval 5
            $ spanbuffer inspect --redis $REDIS --colour
            $ spanbuffer inspect --redis localhost:6379 --shards 4
            ```

            $ spanbuffer check --redis $REDIS

            ```sh
            $ spanbuffer drain --redis localhost:6379 --shards 1
            ```
            """;
        var problems = DocumentationChecks.ToolLineProblems("page.md", Markdown, new HashSet<string>(StringComparer.Ordinal) { "--redis", "--shards", "--interval", "--iterations" });

        Assert.Equal(5, problems.Count);
        Assert.Contains(problems, p => p.Contains("--iterations", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("--colour", StringComparison.Ordinal));
        Assert.Equal(2, problems.Count(p => p.Contains("console", StringComparison.Ordinal)));
        Assert.Contains(problems, p => p.Contains("localhost:6379 --shards 4 (needs --redis $REDIS)", StringComparison.Ordinal));
    }

    private static string Read(string relativePath) => File.ReadAllText(Path.Combine(s_root.Value, relativePath));

    private static List<string> MarkdownFiles() =>
        [Path.Combine(s_root.Value, "README.md"), .. Directory.GetFiles(Path.Combine(s_root.Value, "docs"), "*.md").Order(StringComparer.Ordinal)];

    private static List<LogEvent> LogEventsInSources()
    {
        var source = Path.Combine(s_root.Value, "src", "SpanBuffer");
        var separator = Path.DirectorySeparatorChar;
        return Directory.GetFiles(source, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{separator}obj{separator}", StringComparison.Ordinal) && !f.Contains($"{separator}bin{separator}", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .SelectMany(f => DocumentationChecks.LogEvents(File.ReadAllText(f)))
            .ToList();
    }

    /// <summary>Reads a link target relative to <paramref name="file"/>: the text of a file, "" for a directory, null when missing.</summary>
    private static Func<string, string?> ResolveLink(string file) => target =>
    {
        if (target.Length == 0)
        {
            return File.ReadAllText(file);
        }

        var path = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, Uri.UnescapeDataString(target)));
        return File.Exists(path) ? File.ReadAllText(path) : Directory.Exists(path) ? string.Empty : null;
    };

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "SpanBuffer.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No SpanBuffer.sln above {AppContext.BaseDirectory}.");
    }
}

/// <summary>One <c>[LoggerMessage]</c> event: its id, its name (the event name, else the method name) and its level.</summary>
internal sealed record LogEvent(int Id, string Name, string Level);

/// <summary>The checks, over text, so that tests can also run them on made-up input.</summary>
internal static partial class DocumentationChecks
{
    private static readonly string[] s_toolCommands = ["inspect", "watch", "check", "drain"];

    /// <summary>The instrument names passed to <c>Create*</c> on a meter, in source order.</summary>
    public static List<string> MetricInstrumentNames(string source) =>
        InstrumentPattern().Matches(source).Select(m => m.Groups["name"].Value).ToList();

    /// <summary>The names that <paramref name="docs"/> never mentions as code (<c>`name`</c>), in input order.</summary>
    public static List<string> Undocumented(IEnumerable<string> names, string docs) =>
        names.Where(name => !docs.Contains($"`{name}`", StringComparison.Ordinal)).ToList();

    public static List<LogEvent> LogEvents(string source)
    {
        var events = new List<LogEvent>();
        foreach (Match match in LoggerMessagePattern().Matches(source))
        {
            var arguments = match.Groups["args"].Value;
            var id = NamedIdPattern().Match(arguments) is { Success: true } named ? named.Groups[1].Value : PositionalIdPattern().Match(arguments).Groups[1].Value;
            var name = EventNamePattern().Match(arguments) is { Success: true } eventName ? eventName.Groups[1].Value : match.Groups["method"].Value;
            var level = LevelPattern().Match(arguments).Groups[1].Value;
            events.Add(new LogEvent(int.Parse(id, System.Globalization.CultureInfo.InvariantCulture), name, level));
        }

        return events;
    }

    /// <summary>Every event must have a table row <c>| id | `Name` | Level | …</c>.</summary>
    public static List<string> LogEventProblems(IEnumerable<LogEvent> events, string docs)
    {
        var rows = docs.Split('\n')
            .Where(line => line.TrimStart().StartsWith('|'))
            .Select(line => line.Trim().Trim('|').Split('|').Select(cell => cell.Trim()).ToArray())
            .Where(cells => cells.Length >= 3)
            .ToList();
        var problems = new List<string>();
        foreach (var logEvent in events)
        {
            var row = rows.FirstOrDefault(cells => cells[1] == $"`{logEvent.Name}`");
            if (row is null)
            {
                problems.Add($"{logEvent.Name} (id {logEvent.Id}, {logEvent.Level}) has no row | id | `{logEvent.Name}` | level | …");
                continue;
            }

            if (row[0] != logEvent.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) || row[2] != logEvent.Level)
            {
                problems.Add($"{logEvent.Name}: documented as id {row[0]}, {row[2]}; the code has id {logEvent.Id}, {logEvent.Level}");
            }
        }

        return problems;
    }

    /// <summary>
    /// Relative links (outside code) whose file is missing, or whose <c>#anchor</c> names no heading of the target.
    /// <paramref name="read"/> returns a target's text ("" for a directory, the page itself for ""), or null when missing.
    /// </summary>
    public static List<string> BrokenLinks(string page, string markdown, Func<string, string?> read)
    {
        var problems = new List<string>();
        foreach (Match match in LinkPattern().Matches(WithoutCode(markdown)))
        {
            var target = match.Groups["target"].Value;
            if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
            {
                continue;
            }

            var hash = target.IndexOf('#', StringComparison.Ordinal);
            var file = hash < 0 ? target : target[..hash];
            var text = read(file);
            if (text is null)
            {
                problems.Add($"{page}: {target} (no such file)");
                continue;
            }

            if (hash >= 0 && (file.Length == 0 || file.EndsWith(".md", StringComparison.Ordinal)))
            {
                var anchor = target[(hash + 1)..];
                if (!Anchors(text).Contains(anchor))
                {
                    problems.Add($"{page}: {target} (no heading with that anchor)");
                }
            }
        }

        return problems;
    }

    /// <summary>The <c>--flags</c> the tool's parser accepts (its <c>case "--flag":</c> labels).</summary>
    public static HashSet<string> ToolFlags(string toolOptionsSource) =>
        FlagCasePattern().Matches(toolOptionsSource).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Every line starting with <c>$ spanbuffer </c> must sit in a <c>```console</c> block, name a command, take
    /// <c>--redis $REDIS</c>, use only known flags (when <paramref name="knownFlags"/> is given), and end by itself
    /// (<c>watch</c> needs <c>--iterations</c>): CI runs each of them against a real Redis.
    /// </summary>
    public static List<string> ToolLineProblems(string page, string markdown, IReadOnlySet<string>? knownFlags)
    {
        var problems = new List<string>();
        string? fence = null;
        var lines = markdown.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            var trimmed = line.TrimStart();
            if (trimmed.StartsWith("```", StringComparison.Ordinal))
            {
                fence = fence is null ? trimmed[3..].Trim() : null;
                continue;
            }

            if (!trimmed.StartsWith("$ spanbuffer", StringComparison.Ordinal))
            {
                continue;
            }

            var where = $"{page}:{i + 1}: {trimmed}";
            if (fence != "console" || !line.StartsWith("$ spanbuffer ", StringComparison.Ordinal))
            {
                problems.Add($"{where} (a tool line belongs at the start of a line in a ```console block)");
                continue;
            }

            var words = trimmed.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length < 3 || !s_toolCommands.Contains(words[2], StringComparer.Ordinal))
            {
                problems.Add($"{where} (no command: {string.Join(", ", s_toolCommands)})");
                continue;
            }

            var redis = Array.IndexOf(words, "--redis");
            if (redis < 0 || redis + 1 >= words.Length || words[redis + 1] != "$REDIS")
            {
                problems.Add($"{where} (needs --redis $REDIS)");
            }

            if (words[2] == "watch" && !words.Contains("--iterations", StringComparer.Ordinal))
            {
                problems.Add($"{where} (watch without --iterations never ends)");
            }

            if (knownFlags is not null)
            {
                foreach (var flag in words.Where(w => w.StartsWith("--", StringComparison.Ordinal) && !knownFlags.Contains(w)))
                {
                    problems.Add($"{where} (the tool has no flag {flag})");
                }
            }
        }

        return problems;
    }

    /// <summary>The GitHub anchors of a page's headings: lowercase, punctuation dropped, spaces as hyphens.</summary>
    private static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in WithoutFences(markdown).Split('\n'))
        {
            var heading = HeadingPattern().Match(line.TrimEnd('\r'));
            if (!heading.Success)
            {
                continue;
            }

            var slug = new StringBuilder();
            foreach (var c in heading.Groups[1].Value.Trim().ToLowerInvariant())
            {
                if (char.IsLetterOrDigit(c) || c is '-' or '_')
                {
                    slug.Append(c);
                }
                else if (c == ' ')
                {
                    slug.Append('-');
                }
            }

            anchors.Add(slug.ToString());
        }

        return anchors;
    }

    /// <summary>The markdown with fenced code blocks and inline code blanked out (line numbers kept).</summary>
    private static string WithoutCode(string markdown) => InlineCodePattern().Replace(WithoutFences(markdown), string.Empty);

    /// <summary>The markdown with fenced code blocks blanked out (line numbers kept).</summary>
    private static string WithoutFences(string markdown)
    {
        var lines = markdown.Split('\n');
        var inFence = false;
        for (var i = 0; i < lines.Length; i++)
        {
            var fenceLine = lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal);
            if (fenceLine || inFence)
            {
                lines[i] = string.Empty;
            }

            if (fenceLine)
            {
                inFence = !inFence;
            }
        }

        return string.Join('\n', lines);
    }

    [GeneratedRegex("""\.Create(?:Observable)?(?:Counter|UpDownCounter|Histogram|Gauge)(?:<[^>]+>)?\(\s*"(?<name>[^"]+)"\s*,""")]
    private static partial Regex InstrumentPattern();

    [GeneratedRegex("""\[LoggerMessage\((?<args>.*?)\)\]\s*(?:(?:public|internal|private|protected|static|partial)\s+)+void\s+(?<method>\w+)""", RegexOptions.Singleline)]
    private static partial Regex LoggerMessagePattern();

    [GeneratedRegex("""EventId\s*=\s*(\d+)""")]
    private static partial Regex NamedIdPattern();

    [GeneratedRegex("""^\s*(\d+)\s*,""")]
    private static partial Regex PositionalIdPattern();

    [GeneratedRegex(@"EventName\s*=\s*""([^""]+)""")]
    private static partial Regex EventNamePattern();

    [GeneratedRegex("""LogLevel\.(\w+)""")]
    private static partial Regex LevelPattern();

    [GeneratedRegex("""!?\[[^\]]*\]\((?<target>[^)\s]*)(?:\s+"[^"]*")?\)""")]
    private static partial Regex LinkPattern();

    [GeneratedRegex("""^#{1,6}\s+(.+?)\s*#*$""")]
    private static partial Regex HeadingPattern();

    [GeneratedRegex("""`[^`\n]*`""")]
    private static partial Regex InlineCodePattern();

    [GeneratedRegex("""case\s+"(--[a-z0-9-]+)"\s*:""")]
    private static partial Regex FlagCasePattern();
}
