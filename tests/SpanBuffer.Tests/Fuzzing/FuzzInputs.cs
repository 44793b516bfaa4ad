using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace SpanBuffer.Tests.Fuzzing;

/// <summary>
/// Seeded, time-bounded fuzz loops. Case <c>i</c> of seed <c>s</c> always draws the same input, whatever ran before it,
/// so a failure message naming both replays it on its own: <c>SPANBUFFER_FUZZ_SEED=s SPANBUFFER_FUZZ_CASE=i</c>.
/// <c>SPANBUFFER_FUZZ_SECONDS</c> replaces each test's time budget, for a longer hunt than the unit suite affords.
/// </summary>
internal static class FuzzLoop
{
    /// <summary>The default seed; <c>SPANBUFFER_FUZZ_SEED</c> runs another one.</summary>
    public const int DefaultSeed = 20261207;

    public static int Seed =>
        int.TryParse(Environment.GetEnvironmentVariable("SPANBUFFER_FUZZ_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed)
            ? seed
            : DefaultSeed;

    /// <summary>Runs <paramref name="body"/> for cases 0, 1, ... until <paramref name="budget"/> is spent (or only the case in <c>SPANBUFFER_FUZZ_CASE</c>).</summary>
    /// <returns>The number of cases run.</returns>
    public static int Run(TimeSpan budget, int maxCases, Action<Random, string> body)
    {
        var seed = Seed;
        if (int.TryParse(Environment.GetEnvironmentVariable("SPANBUFFER_FUZZ_CASE"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var only))
        {
            body(CaseRandom(seed, only), Describe(seed, only));
            return 1;
        }

        if (double.TryParse(Environment.GetEnvironmentVariable("SPANBUFFER_FUZZ_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            budget = TimeSpan.FromSeconds(seconds);
            maxCases = int.MaxValue;
        }

        var clock = Stopwatch.StartNew();
        var cases = 0;
        while (cases < maxCases && (cases % 64 != 0 || clock.Elapsed < budget))
        {
            body(CaseRandom(seed, cases), Describe(seed, cases));
            cases++;
        }

        return cases;
    }

    private static Random CaseRandom(int seed, int index) => new(unchecked((seed * 1_000_003) + index));

    private static string Describe(int seed, int index) =>
        $"fuzz seed {seed} case {index} (replay: SPANBUFFER_FUZZ_SEED={seed} SPANBUFFER_FUZZ_CASE={index})";
}

/// <summary>
/// Valid ingest messages in the shape gen-spans.py writes (ids, timestamps, typed attributes, a long db.statement),
/// with variations: member order, optional members present, missing or null, a sentry.segment.id attribute, non-ASCII
/// text and escapes, and whitespace.
/// </summary>
internal static class SpanMessages
{
    private static readonly string[] s_text = ["render", "GET /api/0/issues/", "café", "日本語", "😀 emoji", "tab\\there", "quote\\\"d", "\\u00e9t\\u00e9", "\\ud83d\\ude00", "line\\nbreak", "back\\\\slash", ""];

    public static string Hex(Random random, int bytes)
    {
        var buffer = new byte[bytes];
        random.NextBytes(buffer);
        return Convert.ToHexStringLower(buffer);
    }

    public static string Create(Random random, string? spanId = null, string? traceId = null)
    {
        spanId ??= Hex(random, 8);
        traceId ??= Hex(random, 16);
        var members = new List<string>
        {
            $"\"trace_id\":\"{traceId}\"",
            $"\"span_id\":\"{spanId}\"",
            $"\"project_id\":{random.Next(1, 10)}",
            "\"organization_id\":1",
            "\"retention_days\":90",
            $"\"received\":{(random.Next(2) == 0 ? "1700000000" : "1700000000.5")}",
            $"\"start_timestamp\":1700000000.{random.Next(1_000_000):D6}",
            $"\"end_timestamp\":1700000001.{random.Next(1_000_000):D6}",
            $"\"status\":\"{(random.Next(4) == 0 ? "internal_error" : "ok")}\"",
        };

        switch (random.Next(4))
        {
            case 0:
                members.Add("\"parent_span_id\":null");
                break;
            case 1:
                break;
            default:
                members.Add($"\"parent_span_id\":\"{Hex(random, 8)}\"");
                break;
        }

        if (random.Next(3) != 0)
        {
            members.Add($"\"is_segment\":{(random.Next(3) switch { 0 => "true", 1 => "false", _ => "null" })}");
        }

        if (random.Next(2) == 0)
        {
            members.Add($"\"name\":\"{s_text[random.Next(s_text.Length)]}\"");
        }

        if (random.Next(8) != 0)
        {
            members.Add($"\"attributes\":{Attributes(random)}");
        }

        Shuffle(random, members);
        var separator = random.Next(6) == 0 ? ", " : ",";
        var json = "{" + string.Join(separator, members) + "}";
        return random.Next(10) == 0 ? " " + json.Replace(":", ": ", StringComparison.Ordinal) + "\n" : json;
    }

    private static string Attributes(Random random)
    {
        var members = new List<string>
        {
            "\"sentry.op\":{\"type\":\"string\",\"value\":\"db\"}",
            $"\"sentry.release\":{{\"type\":\"string\",\"value\":\"backend@{random.Next(10)}.{random.Next(100)}\"}}",
            $"\"thread.id\":{{\"type\":\"integer\",\"value\":{random.Next(64)}}}",
            $"\"db.statement\":{{\"type\":\"string\",\"value\":\"SELECT {new string('x', random.Next(0, 600))} {s_text[random.Next(s_text.Length)]}\"}}",
        };

        switch (random.Next(5))
        {
            case 0:
                members.Add($"\"sentry.segment.id\":{{\"type\":\"string\",\"value\":\"{Hex(random, 8)}\"}}");
                break;
            case 1:
                members.Add($"\"sentry.segment.id\":{{\"type\":\"string\",\"value\":{(random.Next(2) == 0 ? "\"\"" : "null")}}}");
                break;
        }

        Shuffle(random, members);
        return "{" + string.Join(",", members.Take(random.Next(members.Count + 1))) + "}";
    }

    private static void Shuffle<T>(Random random, List<T> items)
    {
        for (var i = items.Count - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}

/// <summary>Byte-level mutations of JSON text, weighted towards what breaks decoders: bad UTF-8, escapes, depth, numbers.</summary>
internal static class Mutator
{
    /// <summary>Byte sequences that are not UTF-8: lone continuations, truncated sequences, overlongs, encoded surrogates, too large.</summary>
    private static readonly byte[][] s_invalidUtf8 =
    [
        [0x80], [0xBF], [0x80, 0x80], [0xC2], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0xAF],
        [0xF0, 0x80, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80], [0xF4, 0x90, 0x80, 0x80],
        [0xF5, 0x80, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFE], [0xFF], [0xC3, 0x28], [0xE2, 0x28, 0xA1],
    ];

    private static readonly string[] s_validText = ["é", "日", "😀", "\u2028", "\uFEFF", "\u00a0", "\\u00e9", "\\ud83d\\ude00", "\\n", "\\\"", "\\\\", "\\/"];

    private static readonly string[] s_badEscapes = ["\\ud800", "\\udc00", "\\udbff\\u0041", "\\ud800\\ud800", "\\uDFFF", "\\u", "\\u12", "\\x41", "\\", "\\U0041", "\\u00g0"];

    private static readonly string[] s_numbers =
    [
        "1e400", "-1e400", "1e-400", "123456789012345678901234567890", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "1.7976931348623159e308", "4.9e-324", "-0", "0.0", "00", "01", "1.", ".5", "1e", "+1", "-",
        "1" + new string('0', 400), "0." + new string('0', 400) + "1", "NaN", "Infinity",
    ];

    private static readonly string[] s_keys = ["trace_id", "span_id", "parent_span_id", "project_id", "is_segment", "attributes", "status", "received", "organization_id", "start_timestamp", "sentry.segment.id", "value"];

    private static readonly string[] s_values = ["null", "true", "false", "0", "1", "-1", "\"\"", "\"x\"", "{}", "[]", "\"aaaaaaaaaaaaaaaa\"", "{\"type\":\"string\",\"value\":\"bbbbbbbbbbbbbbbb\"}", "{\"value\":1}", "\"a:b\"", "\"{x}\"", "\"\\ud800\""];

    public static byte[] Mutate(Random random, byte[] input)
    {
        var bytes = new List<byte>(input);
        var count = random.Next(8) == 0 ? 0 : random.Next(1, 4);
        for (var i = 0; i < count; i++)
        {
            MutateOnce(random, bytes);
        }

        return [.. bytes];
    }

    private static void MutateOnce(Random random, List<byte> bytes)
    {
        var at = Position(random, bytes);
        switch (random.Next(15))
        {
            case 0:
                if (bytes.Count > 0)
                {
                    bytes[Math.Min(at, bytes.Count - 1)] ^= (byte)(1 << random.Next(8));
                }

                break;
            case 1:
                if (bytes.Count > 0)
                {
                    bytes[Math.Min(at, bytes.Count - 1)] = (byte)random.Next(256);
                }

                break;
            case 2:
                bytes.RemoveRange(at, Math.Min(random.Next(1, 9), bytes.Count - at));
                break;
            case 3:
                bytes.RemoveRange(at, bytes.Count - at);
                break;
            case 4:
            case 5:
                bytes.InsertRange(at, s_invalidUtf8[random.Next(s_invalidUtf8.Length)]);
                break;
            case 6:
                bytes.InsertRange(at, Encoding.UTF8.GetBytes(s_validText[random.Next(s_validText.Length)]));
                break;
            case 7:
                bytes.InsertRange(at, Encoding.UTF8.GetBytes(s_badEscapes[random.Next(s_badEscapes.Length)]));
                break;
            case 8:
                // A duplicated (or new) key right after an opening brace, or just before the last closing one.
                var member = $"\"{s_keys[random.Next(s_keys.Length)]}\":{s_values[random.Next(s_values.Length)]}";
                var open = bytes.IndexOf((byte)'{', Math.Min(at, bytes.Count));
                var close = random.Next(2) == 0 ? bytes.LastIndexOf((byte)'}') : bytes.IndexOf((byte)'}', Math.Min(at, bytes.Count));
                if (random.Next(2) == 0 && open >= 0)
                {
                    bytes.InsertRange(open + 1, Encoding.UTF8.GetBytes(member + ","));
                }
                else if (close > 0)
                {
                    bytes.InsertRange(close, Encoding.UTF8.GetBytes("," + member));
                }

                break;
            case 9:
                // Nesting around the parser's limit (256) and the scanner's (512).
                var depth = random.Next(4) switch { 0 => random.Next(250, 260), 1 => random.Next(505, 515), _ => random.Next(1, 40) };
                var nested = random.Next(2) == 0
                    ? new string('[', depth) + new string(']', depth)
                    : string.Concat(Enumerable.Repeat("{\"d\":", depth)) + "0" + new string('}', depth);
                var brace = bytes.IndexOf((byte)'{');
                bytes.InsertRange(brace >= 0 && random.Next(2) == 0 ? brace + 1 : at, Encoding.UTF8.GetBytes(random.Next(2) == 0 ? $"\"deep\":{nested}," : nested));
                break;
            case 10:
                ReplaceNumber(random, bytes);
                break;
            case 11:
                bytes.Insert(at, (byte)random.Next(0x20));
                break;
            case 12:
                if (bytes.Count > 0)
                {
                    var from = random.Next(bytes.Count);
                    var slice = bytes.GetRange(from, Math.Min(random.Next(1, 40), bytes.Count - from));
                    bytes.InsertRange(Position(random, bytes), slice);
                }

                break;
            case 13:
                // Whitespace runs shift tokens across the scanner's 64-byte blocks and exercise compaction.
                bytes.InsertRange(at, Enumerable.Repeat(" \t\n\r "u8[random.Next(5)], random.Next(1, 70)));
                break;
            default:
                bytes.InsertRange(at, Encoding.UTF8.GetBytes(s_values[random.Next(s_values.Length)]));
                break;
        }
    }

    /// <summary>A position, half the time just inside a string (after a quote), where bad bytes are most interesting.</summary>
    private static int Position(Random random, List<byte> bytes)
    {
        var at = random.Next(bytes.Count + 1);
        if (random.Next(2) == 0)
        {
            var quote = bytes.IndexOf((byte)'"', Math.Min(at, bytes.Count));
            if (quote >= 0)
            {
                return quote + 1 + (random.Next(3) == 0 ? 0 : Math.Min(random.Next(1, 6), Math.Max(0, bytes.Count - quote - 1)));
            }
        }

        return at;
    }

    private static void ReplaceNumber(Random random, List<byte> bytes)
    {
        var starts = new List<int>();
        for (var i = 1; i < bytes.Count; i++)
        {
            if (bytes[i - 1] == (byte)':' && (bytes[i] is >= (byte)'0' and <= (byte)'9' || bytes[i] == (byte)'-'))
            {
                starts.Add(i);
            }
        }

        if (starts.Count == 0)
        {
            return;
        }

        var start = starts[random.Next(starts.Count)];
        var end = start;
        while (end < bytes.Count && "0123456789+-.eE"u8.Contains(bytes[end]))
        {
            end++;
        }

        bytes.RemoveRange(start, end - start);
        bytes.InsertRange(start, Encoding.UTF8.GetBytes(s_numbers[random.Next(s_numbers.Length)]));
    }
}
