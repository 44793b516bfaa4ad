using System.Globalization;
using System.Text;
using System.Text.Json;
using SpanBuffer.Redis;
using StackExchange.Redis;

namespace SpanBuffer.Tool;

/// <summary>Keys found by a bounded scan, and whether the scan went all the way.</summary>
/// <param name="Keys">The keys (each once).</param>
/// <param name="Complete">Whether every primary's scan reached cursor 0 before the bound.</param>
internal sealed record ScanResult(IReadOnlyList<string> Keys, bool Complete);

/// <summary>What a command works with: options, connection, the library's key schema and store, output and clock.</summary>
internal sealed class ToolContext
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
    };

    public ToolContext(ToolOptions options, ToolConnection connection, TextWriter stdout, TextWriter stderr, TimeProvider time, ToolHooks hooks, CancellationToken cancellationToken)
    {
        Options = options;
        Connection = connection;
        Stdout = stdout;
        Stderr = stderr;
        Time = time;
        Hooks = hooks;
        CancellationToken = cancellationToken;
        Keys = new KeySchema(options.Prefix);
        Families = new KeyFamilies(Keys);
        Store = new RedisSpanStore(connection.Redis.GetDatabase(), Keys);
    }

    public ToolOptions Options { get; }

    public ToolConnection Connection { get; }

    public TextWriter Stdout { get; }

    public TextWriter Stderr { get; }

    public TimeProvider Time { get; }

    public ToolHooks Hooks { get; }

    public CancellationToken CancellationToken { get; }

    public KeySchema Keys { get; }

    public KeyFamilies Families { get; }

    public RedisSpanStore Store { get; }

    public IDatabase Database => Connection.Redis.GetDatabase();

    /// <summary>Gets the clock in Unix seconds: <c>--now</c>, else the time provider's.</summary>
    public long Now => Options.Now ?? Time.GetUtcNow().ToUnixTimeSeconds();

    public string QueueKey(int shard) => Keys.QueueKey(shard, Options.SliceId);

    /// <summary>The queues to look at: the given shards, else every queue of this prefix and slice found by a scan.</summary>
    public async Task<IReadOnlyList<QueueShard>> ResolveShardsAsync()
    {
        if (Options.Shards is { } shards)
        {
            return shards.Select(s => new QueueShard(s, QueueKey(s))).ToList();
        }

        var found = await ScanAsync(Families.QueuePattern, "queues").ConfigureAwait(false);
        var queues = new List<QueueShard>();
        foreach (var key in found.Keys)
        {
            if (Families.TryReadQueue(key, out var shard, out var slice) && slice == Options.SliceId)
            {
                queues.Add(new QueueShard(shard, key));
            }
        }

        return queues.OrderBy(q => q.Shard).ToList();
    }

    /// <summary>
    /// SCANs every primary for <paramref name="pattern"/> with COUNT <c>--scan-count</c>, pausing <c>--scan-delay</c>
    /// between calls and stopping after <c>--max-keys</c> keys; prints a progress line on stderr about once a second.
    /// </summary>
    public async Task<ScanResult> ScanAsync(string pattern, string what)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var complete = true;
        var progress = Time.GetTimestamp();
        var printed = false;
        foreach (var server in Connection.Primaries)
        {
            long cursor = 0;
            do
            {
                CancellationToken.ThrowIfCancellationRequested();
                var reply = await server.ExecuteAsync("SCAN", cursor, "MATCH", pattern, "COUNT", Options.ScanCount).WaitAsync(CancellationToken).ConfigureAwait(false);
                cursor = (long)reply[0];
                var dropped = false;
                foreach (var key in (RedisKey[])reply[1]!)
                {
                    // A page may hold more than COUNT keys; cutting it keeps --max-keys an exact bound on what is processed.
                    var name = key.ToString();
                    if (keys.Count < Options.MaxKeys)
                    {
                        keys.Add(name);
                    }
                    else
                    {
                        dropped |= !keys.Contains(name);
                    }
                }

                if (keys.Count >= Options.MaxKeys)
                {
                    complete = !dropped && cursor == 0 && server == Connection.Primaries[^1];
                    break;
                }

                if (Time.GetElapsedTime(progress) >= TimeSpan.FromSeconds(1))
                {
                    await Stderr.WriteLineAsync($"scanning {what}: {keys.Count} keys so far ({server.EndPoint})").ConfigureAwait(false);
                    progress = Time.GetTimestamp();
                    printed = true;
                }

                await PauseAsync().ConfigureAwait(false);
            }
            while (cursor != 0);

            if (keys.Count >= Options.MaxKeys)
            {
                break;
            }
        }

        if (printed)
        {
            await Stderr.WriteLineAsync($"scanned {what}: {keys.Count} keys{(complete ? string.Empty : $" (stopped at --max-keys {Options.MaxKeys})")}").ConfigureAwait(false);
        }

        return new ScanResult([.. keys], complete);
    }

    /// <summary>Every member of a queue, read with bounded ZSCAN pages (at most <c>--max-keys</c>).</summary>
    public async Task<(IReadOnlyList<SortedSetEntry> Entries, bool Complete)> ReadQueueAsync(string queueKey)
    {
        var entries = new Dictionary<string, SortedSetEntry>(StringComparer.Ordinal);
        long cursor = 0;
        do
        {
            var (next, page) = await Store.ScanQueueAsync(queueKey, cursor, Options.ScanCount).WaitAsync(CancellationToken).ConfigureAwait(false);
            cursor = next;
            var dropped = false;
            foreach (var entry in page)
            {
                var member = entry.Element.ToString();
                if (entries.Count < Options.MaxKeys || entries.ContainsKey(member))
                {
                    entries[member] = entry;
                }
                else
                {
                    dropped = true;
                }
            }

            if (entries.Count >= Options.MaxKeys)
            {
                return ([.. entries.Values], !dropped && cursor == 0);
            }

            if (cursor != 0)
            {
                await PauseAsync().ConfigureAwait(false);
            }
        }
        while (cursor != 0);

        return ([.. entries.Values], true);
    }

    /// <summary>Runs <paramref name="work"/> over <paramref name="items"/> in batches of <c>--scan-count</c>, pausing between batches.</summary>
    public async Task<List<TResult>> InBatchesAsync<TItem, TResult>(IReadOnlyList<TItem> items, Func<IReadOnlyList<TItem>, Task<IReadOnlyList<TResult>>> work)
    {
        var results = new List<TResult>(items.Count);
        for (var start = 0; start < items.Count; start += Options.ScanCount)
        {
            if (start > 0)
            {
                await PauseAsync().ConfigureAwait(false);
            }

            var batch = items.Skip(start).Take(Options.ScanCount).ToList();
            results.AddRange(await work(batch).WaitAsync(CancellationToken).ConfigureAwait(false));
        }

        return results;
    }

    public Task PauseAsync() =>
        Options.ScanDelay > TimeSpan.Zero ? Task.Delay(Options.ScanDelay, CancellationToken) : Task.CompletedTask;

    public Task WriteJsonAsync<T>(T value) => Stdout.WriteLineAsync(ToJson(value));

    public static string ToJson<T>(T value) => JsonSerializer.Serialize(value, s_json);

    public static string Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = new List<IReadOnlyList<string>> { headers };
        all.AddRange(rows);
        var widths = new int[headers.Count];
        foreach (var row in all)
        {
            for (var i = 0; i < row.Count && i < widths.Length; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }

        var text = new StringBuilder();
        foreach (var row in all)
        {
            var line = new StringBuilder();
            for (var i = 0; i < row.Count; i++)
            {
                line.Append(i < row.Count - 1 ? row[i].PadRight(widths[i] + 2) : row[i]);
            }

            text.AppendLine(line.ToString().TrimEnd());
        }

        return text.ToString();
    }

    public static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Number(long? value) => value is { } v ? Number(v) : "-";

    public static string Number(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);
}

/// <summary>Test seams: called by <c>watch</c> after each refresh.</summary>
internal sealed class ToolHooks
{
    public static ToolHooks None { get; } = new();

    /// <summary>Gets the callback run after refresh N (1-based) of <c>watch</c>, before it waits for the next.</summary>
    public Func<int, CancellationToken, Task>? AfterRefresh { get; init; }
}
