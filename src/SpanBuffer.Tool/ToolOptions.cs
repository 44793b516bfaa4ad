using System.Globalization;

namespace SpanBuffer.Tool;

/// <summary>A command line that cannot be run: the message says why; exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>Redis could not be reached or used as asked (wrong address, cluster seen as standalone); exit code 2.</summary>
internal sealed class ConnectionException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The parsed command line of <c>spanbuffer</c>.</summary>
internal sealed class ToolOptions
{
    public const string Usage = """
        spanbuffer COMMAND --redis CONNECTION [options]

        Commands:
          inspect   per shard: queued and due segments, lag of the oldest due segment, the largest segments;
                    per Redis primary: memory and whether the ingest script is loaded; key counts per family
          watch     inspect every --interval seconds, with segments/s in and out per shard since the last refresh
          check     finds data nothing will flush or clean (orphan payload/index/counter keys, queue entries whose
                    data is gone, keys without a TTL); --fix removes orphans and queue entries, and gives keys
                    without a TTL one (--redis-ttl)
          drain     flushes the shards now, whatever the deadlines, writes every segment message as one JSON line
                    (--output FILE, else stdout), then cleans up; refuses while another flusher holds locks

        Options (every command):
          --redis CONNECTION     StackExchange.Redis configuration string (standalone or cluster seed); required
          --shards N             shards 0..N-1            --shard-list 0,1,...   these shards
                                 (default: the queues found under the prefix; drain needs one of them)
          --slice-id ID          the slice of the queue keys (<prefix>:q:<slice>-<shard>)
          --prefix P             key prefix (default span-buf)
          --json                 machine-readable output
          --scan-count N         SCAN/ZSCAN COUNT per call (default 500)
          --max-keys N           read at most N keys per scan (default 100000); counts are then estimates
          --scan-delay MS        pause between scan batches (default 5)
          --top N                largest segments listed per shard (default 5)
          --now UNIX             the clock in Unix seconds (default: now)
          --connect-timeout MS   (default 5000)
        watch:  --interval S (default 5)  --iterations N (default: until Ctrl+C)
        check:  --fix  --grace S (default 60: keys written less than S seconds ago are left alone)
                --redis-ttl S (default 3600: the buffer's RedisTtl, or more; ages are read from TTLs)
        drain:  --output FILE  --force (take over locks another flusher holds)  --lock-ttl S (default 60)
                --max-segment-bytes N (default 10485760)  --max-flush-segments N (default 500)

        Exit codes: 0 healthy, 1 findings (check), refused or incomplete (drain), no keys under the prefix;
                    2 usage or connection error.
        """;

    private static readonly string[] s_commands = ["inspect", "watch", "check", "drain"];

    public string Command { get; private set; } = string.Empty;

    public string Redis { get; private set; } = string.Empty;

    public IReadOnlyList<int>? Shards { get; private set; }

    public int? SliceId { get; private set; }

    public string Prefix { get; private set; } = "span-buf";

    public bool Json { get; private set; }

    public int ScanCount { get; private set; } = 500;

    public long MaxKeys { get; private set; } = 100_000;

    public TimeSpan ScanDelay { get; private set; } = TimeSpan.FromMilliseconds(5);

    public int Top { get; private set; } = 5;

    public long? Now { get; private set; }

    public int ConnectTimeoutMs { get; private set; } = 5000;

    public TimeSpan Interval { get; private set; } = TimeSpan.FromSeconds(5);

    public int? Iterations { get; private set; }

    public bool Fix { get; private set; }

    public long GraceSeconds { get; private set; } = 60;

    public long RedisTtlSeconds { get; private set; } = 3600;

    public string? Output { get; private set; }

    public bool Force { get; private set; }

    public long LockTtlSeconds { get; private set; } = 60;

    public long MaxSegmentBytes { get; private set; } = 10 * 1024 * 1024;

    public int MaxFlushSegments { get; private set; } = 500;

    public static bool IsHelp(IReadOnlyList<string> args) =>
        args.Count > 0 && (args[0] == "help" || args.Any(a => a is "-h" or "--help" or "-?"));

    public static ToolOptions Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0)
        {
            throw new UsageException("no command given.");
        }

        var options = new ToolOptions { Command = args[0] };
        if (!s_commands.Contains(options.Command, StringComparer.Ordinal))
        {
            throw new UsageException($"unknown command '{args[0]}' (expected one of: {string.Join(", ", s_commands)}).");
        }

        for (var i = 1; i < args.Count; i++)
        {
            var name = args[i];
            string Value()
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new UsageException($"{name} needs a value.");
                }

                return args[++i];
            }

            switch (name)
            {
                case "--redis": options.Redis = Value(); break;
                case "--shards":
                    var count = Int(name, Value(), 1, 100_000);
                    options.Shards = Enumerable.Range(0, count).ToArray();
                    break;
                case "--shard-list": options.Shards = ShardList(Value()); break;
                case "--slice-id": options.SliceId = Int(name, Value(), 0, int.MaxValue); break;
                case "--prefix": options.Prefix = Value(); break;
                case "--json": options.Json = true; break;
                case "--scan-count": options.ScanCount = Int(name, Value(), 1, 100_000); break;
                case "--max-keys": options.MaxKeys = Long(name, Value(), 1, long.MaxValue); break;
                case "--scan-delay": options.ScanDelay = TimeSpan.FromMilliseconds(Int(name, Value(), 0, 60_000)); break;
                case "--top": options.Top = Int(name, Value(), 0, 10_000); break;
                case "--now": options.Now = Long(name, Value(), 0, long.MaxValue / 2); break;
                case "--connect-timeout": options.ConnectTimeoutMs = Int(name, Value(), 1, 600_000); break;
                case "--interval": options.Interval = TimeSpan.FromSeconds(Double(name, Value(), 0.01, 86_400)); break;
                case "--iterations": options.Iterations = Int(name, Value(), 1, int.MaxValue); break;
                case "--fix": options.Fix = true; break;
                case "--grace": options.GraceSeconds = Long(name, Value(), 0, 10L * 365 * 86_400); break;
                case "--redis-ttl": options.RedisTtlSeconds = Long(name, Value(), 1, 10L * 365 * 86_400); break;
                case "--output": options.Output = Value(); break;
                case "--force": options.Force = true; break;
                case "--lock-ttl": options.LockTtlSeconds = Long(name, Value(), 1, 86_400); break;
                case "--max-segment-bytes": options.MaxSegmentBytes = Long(name, Value(), 1, long.MaxValue); break;
                case "--max-flush-segments": options.MaxFlushSegments = Int(name, Value(), 1, 1_000_000); break;
                default: throw new UsageException($"unknown option '{name}'.");
            }
        }

        options.Validate();
        return options;
    }

    private void Validate()
    {
        if (string.IsNullOrWhiteSpace(Redis))
        {
            throw new UsageException("--redis CONNECTION is required (e.g. --redis localhost:6379).");
        }

        if (!System.Text.RegularExpressions.Regex.IsMatch(Prefix, "^[A-Za-z0-9_.-]{1,64}$"))
        {
            throw new UsageException($"--prefix '{Prefix}' is not a key prefix (letters, digits, '-', '_' and '.', at most 64).");
        }

        if (Command == "drain" && Shards is null)
        {
            throw new UsageException("drain needs the shards to flush: --shards N or --shard-list 0,1,...");
        }

        var commandOnly = new (bool Set, string Option, string Command)[]
        {
            (Fix, "--fix", "check"),
            (Force, "--force", "drain"),
            (Output is not null, "--output", "drain"),
            (Iterations is not null, "--iterations", "watch"),
        };
        foreach (var (set, option, command) in commandOnly)
        {
            if (set && Command != command)
            {
                throw new UsageException($"{option} is an option of '{command}', not of '{Command}'.");
            }
        }
    }

    private static int[] ShardList(string text)
    {
        var shards = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(part => Int("--shard-list", part, 0, int.MaxValue))
            .Distinct()
            .ToArray();
        return shards.Length > 0 ? shards : throw new UsageException("--shard-list needs at least one shard.");
    }

    private static int Int(string name, string text, int min, int max) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new UsageException($"{name} '{text}' is not a whole number from {min} to {max}.");

    private static long Long(string name, string text, long min, long max) =>
        long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new UsageException($"{name} '{text}' is not a whole number from {min} to {max}.");

    private static double Double(string name, string text, double min, double max) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new UsageException($"{name} '{text}' is not a number from {min} to {max}.");
}
