using System.Buffers;
using SpanBuffer.Models;

namespace SpanBuffer.Flush;

/// <summary>A loaded segment with what building it produced.</summary>
/// <param name="Loaded">The loaded segment.</param>
/// <param name="Flushed">The enriched segment.</param>
/// <param name="InvalidPayloads">Payloads left out because they were not JSON objects.</param>
internal sealed record BuiltSegment(LoadedSegment Loaded, FlushedSegment Flushed, int InvalidPayloads);

/// <summary>Turns loaded segments into flushed segments (reference §4.6). Pure: no I/O, no clock.</summary>
internal static class SegmentAssembler
{
    /// <summary>
    /// Enriches every payload for its segment. A payload that is not a JSON object is left out and counted
    /// (it does not fail the flush). Segments with no spans are kept, so cleanup runs for them.
    /// </summary>
    public static IReadOnlyList<BuiltSegment> Build(IReadOnlyList<LoadedSegment> loaded, int maxSegmentsPerShard, FlushStats stats)
    {
        // One thread: spreading enrichment over the cores saved no wall time in the end-to-end benchmark (Redis and
        // the client already share the two cores) and cost CPU in thread-pool wake-ups.
        var result = new List<BuiltSegment>(loaded.Count);
        foreach (var loadedSegment in loaded)
        {
            var built = BuildOne(loadedSegment);
            var segment = built.Loaded;
            var spanCount = built.Flushed.Spans.Count;
            stats.InvalidPayloads += built.InvalidPayloads;
            stats.SpansFlushed += spanCount;
            stats.SpansPerSegment.Add(spanCount);
            stats.CandidatesPerShard[segment.Candidate.Shard] = stats.CandidatesPerShard.GetValueOrDefault(segment.Candidate.Shard) + 1;

            // The reference's literal rule: one segment's span count against the per-shard segment cap.
            stats.AnyShardAtLimit |= segment.Payloads.Count >= maxSegmentsPerShard;
            if (built.Flushed.HasRootSpan)
            {
                stats.SegmentsWithRoot++;
            }

            result.Add(built);
        }

        return result;
    }

    /// <summary>
    /// The candidates to load: a segment key queued in two of the flushed shards (possible without flush locks) is
    /// loaded once, for its last entry, at the first one's place, as <see cref="Distinct"/> keeps it. Loading it twice
    /// would give all payloads to one load and none to the other, whose ingest counter would then report every span
    /// as dropped although each is flushed.
    /// </summary>
    public static IReadOnlyList<FlushCandidate> LastPerSegmentKey(IReadOnlyList<FlushCandidate> candidates)
    {
        var positions = new Dictionary<string, int>(StringComparer.Ordinal);
        var result = new List<FlushCandidate>(candidates.Count);
        foreach (var candidate in candidates)
        {
            if (positions.TryGetValue(candidate.SegmentKey, out var position))
            {
                result[position] = candidate;
            }
            else
            {
                positions.Add(candidate.SegmentKey, result.Count);
                result.Add(candidate);
            }
        }

        return result.Count == candidates.Count ? candidates : result;
    }

    /// <summary>The segments to hand off: when a segment key was loaded twice, the last load wins, at the first one's place.</summary>
    public static IReadOnlyList<FlushedSegment> Distinct(IReadOnlyList<BuiltSegment> built)
    {
        var positions = new Dictionary<string, int>(StringComparer.Ordinal);
        var result = new List<FlushedSegment>(built.Count);
        foreach (var segment in built)
        {
            var flushed = segment.Flushed;
            if (positions.TryGetValue(flushed.SegmentKey, out var position))
            {
                result[position] = flushed;
            }
            else
            {
                positions.Add(flushed.SegmentKey, result.Count);
                result.Add(flushed);
            }
        }

        return result;
    }

    internal static BuiltSegment BuildOne(LoadedSegment segment)
    {
        var key = SegmentKey.Parse(segment.Candidate.SegmentKey);
        if (segment.Payloads.Count == 0)
        {
            return new BuiltSegment(segment, new FlushedSegment(segment.Candidate, key.ProjectId, [], segment.PayloadKeys) { Snapshot = segment.Snapshot }, 0);
        }

        // Scan everything first: the layouts give each span's exact enriched length, so the segment's spans are written
        // into one buffer of exactly the right size, with no slack and no regrowth.
        var identity = new SegmentIdentity(key.RootId);
        var payloads = segment.Payloads;
        var layouts = ArrayPool<EnrichmentLayout>.Shared.Rent(payloads.Count);
        try
        {
            var totalLength = 0;
            var valid = 0;
            for (var i = 0; i < payloads.Count; i++)
            {
                if (SpanEnricher.TryScan(payloads[i].Span, identity, out layouts[i]))
                {
                    totalLength = checked(totalLength + layouts[i].Length);
                    valid++;
                }
                else
                {
                    layouts[i] = default;
                }
            }

            var buffer = GC.AllocateUninitializedArray<byte>(totalLength);
            var spans = new OutputSpan[valid];
            var offset = 0;
            var next = 0;
            for (var i = 0; i < payloads.Count; i++)
            {
                ref readonly var layout = ref layouts[i];
                if (!layout.IsValid)
                {
                    continue;
                }

                var written = SpanEnricher.Write(payloads[i].Span, identity, layout, buffer.AsSpan(offset, layout.Length));
                spans[next++] = new OutputSpan(buffer.AsMemory(offset, written), layout.SpanId, layout.IsSegment);
                offset += written;
            }

            return new BuiltSegment(segment, new FlushedSegment(segment.Candidate, key.ProjectId, spans, segment.PayloadKeys) { Snapshot = segment.Snapshot }, payloads.Count - valid);
        }
        finally
        {
            // The layouts hold span id strings: clear them so the pool does not keep them alive.
            layouts.AsSpan(0, payloads.Count).Clear();
            ArrayPool<EnrichmentLayout>.Shared.Return(layouts);
        }
    }
}
