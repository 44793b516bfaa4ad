using System.Globalization;
using SpanBuffer.Flush;
using SpanBuffer.Redis;
using StackExchange.Redis;

namespace SpanBuffer.Tool;

/// <summary>What <c>check</c> looks for.</summary>
internal static class FindingKind
{
    public const string OrphanPayload = "orphan_payload";
    public const string OrphanMemberKeys = "orphan_member_keys";
    public const string OrphanCounter = "orphan_counter";
    public const string OrphanRedirect = "orphan_redirect";
    public const string OrphanStoredSalts = "orphan_stored_salts";
    public const string QueueEntryWithoutData = "queue_entry_without_data";
    public const string ExpiredQueueEntry = "expired_queue_entry";
    public const string CorruptQueueMember = "corrupt_queue_member";
    public const string NoTtl = "no_ttl";

    public static readonly string[] All =
        [OrphanPayload, OrphanMemberKeys, OrphanCounter, OrphanRedirect, OrphanStoredSalts, QueueEntryWithoutData, ExpiredQueueEntry, CorruptQueueMember, NoTtl];
}

/// <summary>One finding: a key, or for queue entries the queue and its member.</summary>
/// <param name="Kind">See <see cref="FindingKind"/>.</param>
/// <param name="Key">The key (for queue entries: the queue).</param>
/// <param name="Member">The queue member, for queue entries.</param>
internal sealed record Finding(string Kind, string Key, string? Member = null);

internal sealed record CheckReport(
    long Now,
    string Prefix,
    string Topology,
    long ScannedKeys,
    bool Complete,
    long SkippedRecent,
    long UnknownKeys,
    long StaleRootFlags,
    IReadOnlyDictionary<string, long> Findings,
    IReadOnlyList<Finding> Samples,
    bool Fixed,
    IReadOnlyDictionary<string, long> Removed);

/// <summary>
/// <c>spanbuffer check [--fix]</c>: finds data that nothing will ever flush or clean up. A key is judged only once it is
/// older than <c>--grace</c> (its age is <c>--redis-ttl</c> minus its TTL, as every write sets the TTL), because a segment
/// being ingested is briefly in no queue: payloads are written before the script that indexes them, and the index
/// before the queue entry. <c>--fix</c> checks each finding again right before it acts.
/// </summary>
internal static class CheckCommand
{
    private const int SamplesPerKind = 5;

    public static async Task<int> RunAsync(ToolContext context)
    {
        var options = context.Options;
        var now = context.Now;
        var lossSettings = new LossSettings((long)new SpanBufferOptions().RootTimeout.TotalSeconds, options.RedisTtlSeconds);
        var all = await context.ScanAsync(context.Families.AllKeysPattern, "keys").ConfigureAwait(false);
        var classified = all.Keys.Select(context.Families.Classify).ToList();

        // Every queue of the prefix (any slice) decides what is queued; the given shards decide which queues are checked.
        var queueScan = await context.ScanAsync(context.Families.QueuePattern, "queues").ConfigureAwait(false);
        var queueKeys = queueScan.Keys.Where(k => context.Families.TryReadQueue(k, out _, out _)).ToHashSet(StringComparer.Ordinal);
        var checkedQueues = (await context.ResolveShardsAsync().ConfigureAwait(false)).Select(q => q.QueueKey).ToList();
        queueKeys.UnionWith(checkedQueues);
        var complete = all.Complete && queueScan.Complete;
        var queued = new HashSet<string>(StringComparer.Ordinal);
        var entriesByQueue = new Dictionary<string, IReadOnlyList<SortedSetEntry>>(StringComparer.Ordinal);
        foreach (var queue in queueKeys)
        {
            var (entries, read) = await context.ReadQueueAsync(queue).ConfigureAwait(false);
            complete &= read;
            entriesByQueue[queue] = entries;
            queued.UnionWith(entries.Select(e => e.Element.ToString()));
        }

        var ttls = await TtlsAsync(context, all.Keys).ConfigureAwait(false);
        var youngAbove = Math.Max(0, options.RedisTtlSeconds - options.GraceSeconds) * 1000;
        bool IsYoung(string key) => ttls.TryGetValue(key, out var ttl) && ttl > youngAbove;
        bool Judged(string key) => ttls.TryGetValue(key, out var ttl) && ttl >= 0 && ttl <= youngAbove;

        var findings = new List<Finding>();
        foreach (var (key, ttl) in ttls)
        {
            if (ttl == -1)
            {
                findings.Add(new Finding(FindingKind.NoTtl, key));
            }
        }

        var skipped = classified.LongCount(c => c.Family != KeyFamily.Queue && IsYoung(c.Key));
        var queuedTraces = queued
            .Select(m => Models.SegmentKey.TryParse(m, out var s) ? KeySchema.ProjectAndTrace(s.ProjectId, s.TraceId) : null)
            .Where(pt => pt is not null)
            .ToHashSet(StringComparer.Ordinal);
        var youngTraces = classified.Where(c => c.ProjectAndTrace is not null && IsYoung(c.Key)).Select(c => c.ProjectAndTrace!).ToHashSet(StringComparer.Ordinal);
        var staleRootFlags = 0L;
        var indexesByTrace = classified.Where(c => c.Family == KeyFamily.MemberKeys).ToLookup(c => c.ProjectAndTrace!, StringComparer.Ordinal);
        var payloadsToLookUp = new List<ClassifiedKey>();
        foreach (var key in classified)
        {
            switch (key.Family)
            {
                case KeyFamily.MemberKeys when Judged(key.Key) && !queued.Contains(key.SegmentKey!):
                    findings.Add(new Finding(FindingKind.OrphanMemberKeys, key.Key));
                    break;
                case KeyFamily.IngestedCount or KeyFamily.IngestedBytes when Judged(key.Key) && !queued.Contains(key.SegmentKey!):
                    findings.Add(new Finding(FindingKind.OrphanCounter, key.Key));
                    break;
                case KeyFamily.HasRoot when Judged(key.Key) && !queued.Contains(key.SegmentKey!):
                    // Merges leave the merged child's root flag behind (as the reference does); it expires with its TTL.
                    staleRootFlags++;
                    break;
                case KeyFamily.Redirect or KeyFamily.StoredSalts when Judged(key.Key) && !queuedTraces.Contains(key.ProjectAndTrace!) && !youngTraces.Contains(key.ProjectAndTrace!):
                    findings.Add(new Finding(key.Family == KeyFamily.Redirect ? FindingKind.OrphanRedirect : FindingKind.OrphanStoredSalts, key.Key));
                    break;
                case KeyFamily.Payload when Judged(key.Key):
                    payloadsToLookUp.Add(key);
                    break;
            }
        }

        // A payload set is live while an index of a queued (or just written) segment of its trace lists its salt.
        var orphanPayloads = await context.InBatchesAsync<ClassifiedKey, string>(payloadsToLookUp, async batch =>
        {
            var lookups = batch.Select(p => (p.Key, Listed: context.Store.IsSaltListedAsync(
                indexesByTrace[p.ProjectAndTrace!].Where(i => queued.Contains(i.SegmentKey!) || IsYoung(i.Key)).Select(i => i.Key).ToList(), p.Salt!))).ToList();
            await Task.WhenAll(lookups.Select(l => l.Listed)).ConfigureAwait(false);
            return lookups.Where(l => !l.Listed.Result).Select(l => l.Key).ToList();
        }).ConfigureAwait(false);
        findings.AddRange(orphanPayloads.Select(k => new Finding(FindingKind.OrphanPayload, k)));

        foreach (var queue in checkedQueues)
        {
            var entries = entriesByQueue[queue];
            var members = entries.Select(e => e.Element.ToString()).ToList();
            findings.AddRange(members.Where(m => !KeySchema.TryReadSegmentKey(m, out _)).Select(m => new Finding(FindingKind.CorruptQueueMember, queue, m)));
            var segments = members.Where(m => KeySchema.TryReadSegmentKey(m, out _)).ToList();
            var deadlines = entries.GroupBy(e => e.Element.ToString(), StringComparer.Ordinal).ToDictionary(g => g.Key, g => (long)g.First().Score, StringComparer.Ordinal);
            findings.AddRange((await DataGoneAsync(context, segments).ConfigureAwait(false)).Select(m => new Finding(
                SegmentLosses.DataExpiredBeforeFlush(now, deadlines[m], lossSettings) ? FindingKind.ExpiredQueueEntry : FindingKind.QueueEntryWithoutData, queue, m)));
        }

        var removed = FindingKind.All.ToDictionary(k => k, _ => 0L, StringComparer.Ordinal);
        // After an incomplete scan a key may belong to a queued segment the scan did not reach: orphans are then only reported.
        // An entry whose data expired stays for the flusher, which counts it as lost (ExpiredBeforeFlush) and removes it.
        var fixable = findings.Where(f => f.Kind != FindingKind.ExpiredQueueEntry
            && (complete || f.Kind is FindingKind.NoTtl or FindingKind.QueueEntryWithoutData or FindingKind.CorruptQueueMember)).ToList();
        var changed = options.Fix ? await FixAsync(context, fixable, queueKeys, youngAbove, removed).ConfigureAwait(false) : 0;

        var counts = FindingKind.All.ToDictionary(k => k, k => findings.LongCount(f => f.Kind == k), StringComparer.Ordinal);
        var report = new CheckReport(
            now,
            options.Prefix,
            context.Connection.IsCluster ? "cluster" : "standalone",
            all.Keys.Count,
            complete,
            skipped,
            classified.LongCount(c => c.Family == KeyFamily.Unknown),
            staleRootFlags,
            counts,
            findings.GroupBy(f => f.Kind).SelectMany(g => g.Take(SamplesPerKind)).ToList(),
            options.Fix,
            removed);
        if (options.Json)
        {
            await context.WriteJsonAsync(report).ConfigureAwait(false);
        }
        else
        {
            await context.Stdout.WriteAsync(Render(report)).ConfigureAwait(false);
        }

        if (!complete)
        {
            await context.Stderr.WriteLineAsync(
                $"warning: the scan stopped at --max-keys; the check is incomplete{(options.Fix ? " and orphans were not removed" : string.Empty)} (raise --max-keys).").ConfigureAwait(false);
        }

        if (all.Keys.Count == 0)
        {
            await context.Stderr.WriteLineAsync($"warning: no keys under the prefix '{options.Prefix}:' (wrong --prefix, or a drained buffer).").ConfigureAwait(false);
        }

        var unresolved = findings.Count - removed.Values.Sum() - changed;
        return unresolved > 0 || !complete || all.Keys.Count == 0 ? ToolApp.ExitFindings : ToolApp.ExitHealthy;
    }

    /// <summary>PTTL per key: -1 without a TTL, -2 gone; one pipelined round per batch.</summary>
    private static async Task<Dictionary<string, long>> TtlsAsync(ToolContext context, IReadOnlyList<string> keys)
    {
        var pairs = await context.InBatchesAsync<string, (string, long)>(keys, async batch =>
        {
            var pending = batch.Select(k => (Key: k, Ttl: context.Database.ExecuteAsync("PTTL", (RedisKey)k))).ToList();
            await Task.WhenAll(pending.Select(p => p.Ttl)).ConfigureAwait(false);
            return pending.Select(p => (p.Key, (long)p.Ttl.Result)).ToList();
        }).ConfigureAwait(false);
        return pairs.Where(p => p.Item2 != -2).ToDictionary(p => p.Item1, p => p.Item2, StringComparer.Ordinal);
    }

    /// <summary>Queued segments whose member index is gone and that no flush lock or cleanup fence covers.</summary>
    private static async Task<List<string>> DataGoneAsync(ToolContext context, IReadOnlyList<string> segments)
    {
        var gone = await context.InBatchesAsync<string, string>(segments, async batch =>
        {
            var states = await context.Store.GetSegmentStatesAsync(batch).ConfigureAwait(false);
            var candidates = states.Where(s => !s.HasData).Select(s => s.SegmentKey).ToList();
            var locks = await context.Store.GetFlushLocksAsync(candidates).ConfigureAwait(false);
            return locks.Where(l => l.Holder is null).Select(l => l.SegmentKey).ToList();
        }).ConfigureAwait(false);
        return gone;
    }

    /// <summary>Acts on every finding that still holds; returns how many no longer did.</summary>
    private static async Task<long> FixAsync(ToolContext context, List<Finding> findings, IReadOnlyCollection<string> queues, long youngAbove, Dictionary<string, long> removed)
    {
        var changed = 0L;
        var database = context.Database;
        var ttl = TimeSpan.FromSeconds(context.Options.RedisTtlSeconds);
        foreach (var batch in findings.Chunk(context.Options.ScanCount))
        {
            foreach (var finding in batch)
            {
                if (await StillHoldsAsync(context, finding, queues, youngAbove).ConfigureAwait(false))
                {
                    var done = finding.Kind switch
                    {
                        // Never deletes a key without a TTL: its age is unknown (a payload set is briefly without one
                        // between its SADD and EXPIRE). It gets the buffer's TTL, so it expires, and a later check judges it.
                        FindingKind.NoTtl => await database.KeyExpireAsync(finding.Key, ttl, ExpireWhen.HasNoExpiry).ConfigureAwait(false),
                        FindingKind.QueueEntryWithoutData or FindingKind.CorruptQueueMember =>
                            await database.SortedSetRemoveAsync(finding.Key, (RedisValue)finding.Member!).ConfigureAwait(false),
                        _ => (long)await database.ExecuteAsync("UNLINK", (RedisKey)finding.Key).ConfigureAwait(false) > 0,
                    };
                    if (done)
                    {
                        removed[finding.Kind]++;
                        continue;
                    }
                }

                // No longer true (ingest or a flush moved on since): not a finding any more.
                changed++;
                await context.Stderr.WriteLineAsync($"note: {finding.Kind} {finding.Key} {finding.Member} changed since it was found; left as it is.").ConfigureAwait(false);
            }

            await context.PauseAsync().ConfigureAwait(false);
        }

        return changed;
    }

    /// <summary>Checks a finding again right before acting on it.</summary>
    private static async Task<bool> StillHoldsAsync(ToolContext context, Finding finding, IReadOnlyCollection<string> queues, long youngAbove)
    {
        var database = context.Database;
        if (finding.Kind == FindingKind.QueueEntryWithoutData)
        {
            var gone = await DataGoneAsync(context, [finding.Member!]).ConfigureAwait(false);
            return gone.Count == 1;
        }

        if (finding.Kind == FindingKind.CorruptQueueMember)
        {
            return true;
        }

        var pttl = (long)await database.ExecuteAsync("PTTL", (RedisKey)finding.Key).ConfigureAwait(false);
        if (finding.Kind == FindingKind.NoTtl)
        {
            return pttl == -1;
        }

        if (pttl < 0 || pttl > youngAbove)
        {
            return false;
        }

        var classified = context.Families.Classify(finding.Key);
        if (classified.SegmentKey is { } segment)
        {
            var scores = queues.Select(q => database.SortedSetScoreAsync(q, segment)).ToList();
            await Task.WhenAll(scores).ConfigureAwait(false);
            return scores.All(s => s.Result is null);
        }

        return true;
    }

    private static string Render(CheckReport report)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Check of '{report.Prefix}' on {report.Topology} Redis: {report.ScannedKeys} keys{(report.Complete ? string.Empty : " (INCOMPLETE: stopped at --max-keys)")}, now {report.Now}");
        text.AppendLine(CultureInfo.InvariantCulture, $"Left alone: {report.SkippedRecent} keys written within the grace period, {report.UnknownKeys} keys of no known family, {report.StaleRootFlags} root flags of merged or flushed segments (they expire).");
        text.AppendLine();
        var headers = report.Fixed ? new[] { "finding", "count", "fixed" } : ["finding", "count"];
        text.Append(ToolContext.Table(
            headers,
            report.Findings.Select(kv => report.Fixed
                ? (IReadOnlyList<string>)[kv.Key, ToolContext.Number(kv.Value), ToolContext.Number(report.Removed[kv.Key])]
                : [kv.Key, ToolContext.Number(kv.Value)])));
        if (report.Samples.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("Examples:");
            foreach (var sample in report.Samples)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  {sample.Kind}  {sample.Key}{(sample.Member is null ? string.Empty : " " + sample.Member)}");
            }
        }

        return text.ToString();
    }
}
