using System.Runtime.CompilerServices;
using SpanBuffer.IntegrationTests.Infrastructure;
using SpanBuffer.Ingest;
using SpanBuffer.Redis;
using StackExchange.Redis;
using Span = SpanBuffer.Models.Span;

namespace SpanBuffer.IntegrationTests.Ingest;

/// <summary>Common ground of the ingest tests: a buffer under its own key prefix and readers for what it wrote.</summary>
public abstract class IngestTestBase(RedisFixture fixture) : RedisTestBase(fixture)
{
    /// <summary>A buffer with its own key prefix; <paramref name="configure"/> adjusts the default options.</summary>
    internal IngestScope NewScope(Action<SpanBufferOptions>? configure = null, [CallerMemberName] string name = "")
    {
        var options = new SpanBufferOptions { KeyPrefix = NewKeyPrefix(name) };
        configure?.Invoke(options);
        return new IngestScope(Fixture, new SpansBuffer(Redis, options), options);
    }

    /// <summary>An ordinally sorted map, comparable with what <see cref="IngestScope"/> reads back.</summary>
    protected static SortedDictionary<string, T> Map<T>(params (string Key, T Value)[] entries) =>
        new(entries.ToDictionary(e => e.Key, e => e.Value), StringComparer.Ordinal);

    /// <summary>The values, ordinally sorted.</summary>
    protected static string[] Sorted(params IEnumerable<string> values) => [.. values.Order(StringComparer.Ordinal)];
}

/// <summary>One buffer under one key prefix, and everything a test reads back under that prefix.</summary>
internal sealed class IngestScope(RedisFixture fixture, SpansBuffer buffer, SpanBufferOptions options) : IDisposable
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(10);

    public SpansBuffer Buffer { get; } = buffer;

    public SpanBufferOptions Options { get; } = options;

    public string Prefix => Options.KeyPrefix;

    public KeySchema Keys { get; } = new(options.KeyPrefix);

    public IDatabase Db => fixture.Connection.GetDatabase();

    /// <summary>Ingests <paramref name="spans"/> at <paramref name="now"/>, failing after ten seconds rather than hanging.</summary>
    public Task IngestAsync(long now, params Span[] spans) => IngestAsync(spans, now);

    /// <summary>Ingests <paramref name="spans"/> at <paramref name="now"/>, failing after ten seconds rather than hanging.</summary>
    public Task IngestAsync(IReadOnlyList<Span> spans, long now)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        return Buffer.ProcessSpansAsync(spans, now, cancellationToken).WaitAsync(CallTimeout, cancellationToken);
    }

    // Key names of the default trace (or of project-and-trace pt).
    public string SegmentKey(string root, string? pt = null) => Keys.SegmentKey(pt ?? SpanFactory.ProjectAndTrace, root);

    public string PayloadKey(string salt, string? pt = null) => Keys.PayloadKey(pt ?? SpanFactory.ProjectAndTrace, salt);

    public string MemberKeysKey(string root, string? pt = null) => Keys.MemberKeysKey(Models.SegmentKey.Parse(SegmentKey(root, pt)));

    public string IngestedCountKey(string root, string? pt = null) => Keys.IngestedCountKey(SegmentKey(root, pt));

    public string IngestedBytesKey(string root, string? pt = null) => Keys.IngestedBytesKey(SegmentKey(root, pt));

    public string HasRootKey(string root, string? pt = null) => Keys.HasRootKey(SegmentKey(root, pt));

    public string RedirectKey(string? pt = null) => Keys.RedirectKey(pt ?? SpanFactory.ProjectAndTrace);

    public string QueueKey(int shard = 0) => Keys.QueueKey(shard, Options.SliceId);

    /// <summary>Every key under the prefix, on every primary, sorted ordinally.</summary>
    public Task<IReadOnlyList<string>> AllKeysAsync() => fixture.GetKeysAsync(Prefix + ":*");

    public async Task<long?> GetNumberAsync(string key)
    {
        var value = await Db.StringGetAsync(key);
        return value.IsNull ? null : (long)value;
    }

    public async Task<SortedDictionary<string, string>> RedirectsAsync(string? pt = null)
    {
        var entries = await Db.HashGetAllAsync(RedirectKey(pt));
        return new SortedDictionary<string, string>(entries.ToDictionary(e => (string)e.Name!, e => (string)e.Value!), StringComparer.Ordinal);
    }

    /// <summary>The member-keys index (salts) of segment <paramref name="root"/>, sorted.</summary>
    public async Task<string[]> MemberSaltsAsync(string root, string? pt = null)
    {
        var members = await Db.SetMembersAsync(MemberKeysKey(root, pt));
        return [.. members.Select(m => (string)m!).Order(StringComparer.Ordinal)];
    }

    /// <summary>Queue members and their scores (deadlines).</summary>
    public async Task<SortedDictionary<string, long>> QueueAsync(int shard = 0)
    {
        var entries = await Db.SortedSetRangeByRankWithScoresAsync(QueueKey(shard));
        return new SortedDictionary<string, long>(entries.ToDictionary(e => (string)e.Element!, e => (long)e.Score), StringComparer.Ordinal);
    }

    /// <summary>The payloads stored in a payload set, decoded (zstd frames split, raw members as they are).</summary>
    public async Task<List<ReadOnlyMemory<byte>>> PayloadsAsync(string payloadKey)
    {
        var payloads = new List<ReadOnlyMemory<byte>>();
        foreach (var member in await Db.SetMembersAsync(payloadKey))
        {
            PayloadCodec.Decode((byte[])member!, payloads);
        }

        return payloads;
    }

    /// <summary>The span ids of a segment, read the way a flush does: member index → payload keys → payloads.</summary>
    public async Task<string[]> SegmentSpanIdsAsync(string root, string? pt = null)
    {
        var pending = (await MemberSaltsAsync(root, pt)).Select(salt => PayloadsAsync(PayloadKey(salt, pt))).ToList();
        var ids = new List<string>();
        foreach (var payloads in pending)
        {
            ids.AddRange((await payloads).Select(SpanFactory.SpanIdOf));
        }

        return [.. ids.Order(StringComparer.Ordinal)];
    }

    /// <summary>Asserts the TTL invariant (reference §2.3): every key under the prefix expires.</summary>
    public async Task AssertEveryKeyHasTtlAsync() => await AssertEveryKeyHasTtlAsync(await AllKeysAsync());

    /// <summary>Asserts that each of <paramref name="keys"/> expires.</summary>
    public async Task AssertEveryKeyHasTtlAsync(IReadOnlyList<string> keys)
    {
        Assert.NotEmpty(keys);
        var pending = keys.Select(key => (Key: key, Ttl: Db.KeyTimeToLiveAsync(key))).ToList();
        foreach (var (key, ttl) in pending)
        {
            var value = await ttl;

            // No TTL reads the same as a missing key: a key that expired since the SCAN is fine.
            Assert.True(
                value is { } t ? t > TimeSpan.Zero : !await Db.KeyExistsAsync(key),
                $"{key} has no TTL ({value?.ToString() ?? "none"}).");
        }
    }

    /// <summary>Asserts that the keys under the prefix are exactly <paramref name="expected"/>.</summary>
    /// <summary>Asserts the exact key set; each trace with redirects also has its stored-salts hash, which is implied.</summary>
    public async Task AssertKeysAsync(params string[] expected) =>
        Assert.Equal(
            expected.Concat(expected.Where(key => key.Contains(":ssr:{", StringComparison.Ordinal)).Select(key => key.Replace(":ssr:{", ":ss:{", StringComparison.Ordinal)))
                .Order(StringComparer.Ordinal)
                .ToArray(),
            await AllKeysAsync());

    public void Dispose() => Buffer.Dispose();
}
