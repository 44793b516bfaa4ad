using System.Globalization;
using System.Text;
using CsCheck;

namespace SpanBuffer.Tests;

/// <summary>One generated enrichment input: the payload bytes and the root span id of the segment it is enriched for.</summary>
internal sealed record EnrichmentCase(byte[] Payload, string RootId)
{
    public override string ToString() =>
        $"root {RootId}: {Encoding.UTF8.GetString(Payload)} [{Convert.ToHexString(Payload)}]";
}

/// <summary>
/// Span-like JSON payloads for differential tests: span_id, is_segment and attributes members (with and without
/// <c>sentry.segment.id</c>, whose <c>value</c> takes every kind and truthiness), nested objects and arrays, escapes
/// in names and values, non-ASCII text, duplicate keys, nesting around the depth limit, optional whitespace or
/// pretty printing, stray leading or trailing bytes, and byte-level mutations (delete, insert, replace, truncate).
/// </summary>
internal static class SpanPayloadGen
{
    /// <summary>Marks where whitespace may go; never appears in generated JSON text otherwise.</summary>
    private const char Gap = '\u0001';

    /// <summary>Segment roots: ids the generated span_id values equal (some only after unescaping) and ids they do not.</summary>
    private static readonly string[] s_rootIds = ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "", "été", "a\"b", "😀", "3106330ede3673ae78e9b017358c794a"];

    private static readonly Gen<string> s_stringPiece = Gen.Frequency(
        (20, Gen.Char['a', 'z'].Select(c => c.ToString())),
        (4, Gen.OneOf(" ", "0", "9", "A", "_", ".", "-", "~", "\u007f", "'", "/")),
        (4, Gen.OneOf("é", "日本", "😀", "\u00a0", "\u2028", "\uFEFF")),
        (6, Gen.OneOf(
            "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u0041", "\\u00e9", "\\u00E9", "\\u005f", "\\u0000",
            "\\u001f", "\\u007F", "\\u65e5", "\\ud83d\\ude00", "\\uD83D\\uDE00", "\\udbff\\udfff")));

    /// <summary>
    /// Escapes of lone surrogates: Utf8JsonReader accepts them, but decoding one (in a member name it compares, or in
    /// span_id) throws. They are kept to string values mostly, so few cases end in the oracle throwing.
    /// </summary>
    private static readonly Gen<string> s_loneSurrogate = Gen.OneOf("\\ud800", "\\udc00", "\\ud800\\u0041", "\\ud800\\n", "\\udfff\\ud800", "\\uDBFF");

    private static readonly Gen<string> s_stringContent = s_stringPiece.Array[0, 8].Select(string.Concat);

    private static readonly Gen<string> s_valueContent = Gen.Frequency(
        (9, s_stringContent),
        (1, Gen.Select(s_stringContent, s_loneSurrogate, s_stringContent, (before, surrogate, after) => before + surrogate + after)));

    private static readonly Gen<string> s_grammarNumber = Gen.Select(
        Gen.Frequency((3, Gen.Const("")), (1, Gen.Const("-"))),
        Gen.Frequency((2, Gen.Const("0")), (5, Gen.Int[1, 9].Select(d => d.ToString(CultureInfo.InvariantCulture))), (3, Gen.Long[1, long.MaxValue].Select(l => l.ToString(CultureInfo.InvariantCulture)))),
        Gen.Frequency((3, Gen.Const("")), (2, Gen.Char['0', '9'].Array[1, 20].Select(d => "." + new string(d)))),
        Gen.Frequency((3, Gen.Const("")), (2, Gen.Select(Gen.OneOf("e", "E"), Gen.OneOf("", "+", "-"), Gen.Int[0, 400], (e, sign, exponent) => e + sign + exponent.ToString(CultureInfo.InvariantCulture)))),
        (sign, integer, fraction, exponent) => sign + integer + fraction + exponent);

    private static readonly Gen<string> s_number = Gen.Frequency(
        (4, s_grammarNumber),
        (2, Gen.Int.Select(i => i.ToString(CultureInfo.InvariantCulture))),
        (2, Gen.Double.Where(double.IsFinite).Select(d => d.ToString("R", CultureInfo.InvariantCulture))),
        (3, Gen.OneOf(
            "0", "-0", "0.0", "-0.0", "0e0", "0E+5", "0.000e-10", "1e400", "-1e400", "1e-400", "2e-324", "3e-324",
            "2.4703282292062328e-324", "2.4703282292062327e-324", "4.9e-324", "1.7976931348623157e308",
            "1.7976931348623159e308", "12345678901234567890123", "1" + new string('0', 400), "0." + new string('0', 400) + "1",
            "1.50e+3", "-0.0E-7", "1E5", "0.1", "1e0")));

    private static readonly Gen<string> s_scalar = Gen.Frequency(
        (4, s_valueContent.Select(Quoted)),
        (3, s_number),
        (1, Gen.OneOf("true", "false", "null")));

    /// <summary>Values nested at most <c>index</c> levels deep.</summary>
    private static readonly Gen<string>[] s_values = BuildValues(3);

    /// <summary>Arrays or objects nested around the 512 limit of Utf8JsonReader (counted from where they start).</summary>
    private static readonly Gen<string> s_deep = Gen.Select(Gen.Int[505, 512], Gen.Bool, (levels, objects) => objects
        ? string.Concat(Enumerable.Repeat("{\"d\":", levels - 1)) + "{}" + new string('}', levels - 1)
        : new string('[', levels) + new string(']', levels));

    /// <summary>
    /// Values in the ingest schema's typed shape, <c>{"type":"string","value":...}</c>, exactly (which the scanner
    /// matches as a whole) or nearly, with or without whitespace, and with more members after the value.
    /// </summary>
    private static readonly Gen<string> s_typedValue = Gen.Select(
        Gen.Frequency((6, Gen.OneOf("string", "integer", "double", "boolean")), (1, Gen.OneOf("strin", "integers", "String", "", "bool", "doubles", "str\\u0069ng"))),
        Gen.Frequency((6, Gen.Const("value")), (1, Gen.OneOf("valu", "values", "Value", "v\\u0061lue"))),
        Gen.Frequency((3, s_scalar), (1, s_values[1])),
        Gen.Frequency((4, Gen.Const("")), (1, s_values[1].Select(v => ",\"more\":" + v))),
        Gen.Frequency((4, Gen.Const(false)), (1, Gen.Const(true))),
        (type, valueName, value, more, spaced) => spaced
            ? "{" + Gap + "\"type\"" + Gap + ":" + Gap + "\"" + type + "\"" + Gap + "," + Gap + "\"" + valueName + "\"" + Gap + ":" + Gap + value + more + Gap + "}"
            : "{\"type\":\"" + type + "\",\"" + valueName + "\":" + value + more + "}");

    private static readonly Gen<string> s_truthinessValue = Gen.Frequency(
        (4, Gen.OneOf(
            "\"\"", "\"0\"", "\"\\u0000\"", "\"x\"", "0", "-0", "0.0", "1", "-1e-2", "1e400", "1e-400", "2e-324", "3e-324", "true",
            "false", "null", "{}", "{" + Gap + "}", "[]", "[" + Gap + "]", "[0]", "[[]]", "{\"k\":null}", "{\"\":0}")),
        (3, s_values[2]),
        (1, s_deep));

    private static readonly Gen<string> s_segmentIdObject = ObjectOf(
        Gen.Frequency(
            (6, Gen.Select(Gen.Frequency((8, Gen.Const("value")), (2, Gen.OneOf("\\u0076alue", "valu\\u0065", "Value", "values", "valu"))), s_truthinessValue, Member)),
            (3, Gen.Select(Gen.OneOf("type", "meta", "k", ""), s_values[2], Member))),
        4);

    private static readonly Gen<string> s_segmentIdValue = Gen.Frequency((8, s_segmentIdObject), (2, s_values[1]), (3, s_typedValue));

    private static readonly Gen<string> s_attributes = Gen.Frequency(
        (8, ObjectOf(
            Gen.Frequency(
                (3, s_segmentIdValue.Select(v => Member("sentry.segment.id", v))),
                (1, Gen.Select(Gen.OneOf("sentry\\u002esegment.id", "sentry.segment.i\\u0064", "sentry.segment.ID", "sentry.segment.id "), s_segmentIdValue, Member)),
                (4, Gen.Select(Gen.Frequency((3, Gen.OneOf("sentry.op", "thread.id", "k", "span_id", "attributes")), (1, s_stringContent)), s_values[2], Member)),
                (4, Gen.Select(Gen.OneOf("sentry.op", "thread.id", "db.statement", "sentry.segment.id"), s_typedValue, Member)),
                (1, s_deep.Select(v => Member("deep", v)))),
            6)),
        (2, s_values[1]));

    private static readonly Gen<string> s_spanIdValue = Gen.Frequency(
        (12, Gen.OneOf("\"aaaaaaaaaaaaaaaa\"", "\"bbbbbbbbbbbbbbbb\"", "\"\"", "\"3106330ede3673ae78e9b017358c794a\"")),
        (6, Gen.OneOf("\"aaaa\\u0061aaaaaaaaaaa\"", "\"\\u00e9t\\u00e9\"", "\"été\"", "\"a\\\"b\"", "\"\\ud83d\\ude00\"", "\"😀\"")),
        (1, s_loneSurrogate.Select(Quoted)),
        (4, s_stringContent.Select(Quoted)),
        (2, s_values[1]));

    private static readonly Gen<string> s_rootMember = Gen.Frequency(
        (3, Gen.Select(Gen.Frequency((8, Gen.Const("span_id")), (2, Gen.OneOf("span\\u005fid", "\\u0073pan_id", "Span_id", "span_i", "span_id\\u0000"))), s_spanIdValue, Member)),
        (2, Gen.Select(Gen.Frequency((8, Gen.Const("is_segment")), (2, Gen.OneOf("is_s\\u0065gment", "is_segmen"))), s_values[1], Member)),
        (3, Gen.Select(Gen.Frequency((16, Gen.Const("attributes")), (4, Gen.OneOf("attr\\u0069butes", "attributes\\u0000")), (1, Gen.OneOf("\\ud800xxxxxx", "\\udc00xxxxxxxxxx", "\\ud800"))), s_attributes, Member)),
        (4, Gen.Select(Gen.Frequency((3, Gen.OneOf("trace_id", "name", "data", "", "value", "sentry.segment.id")), (1, s_stringContent)), s_values[3], Member)),
        (1, Gen.Select(Gen.OneOf("data", "is_segment", "span_id"), s_typedValue.Select(v => Gen.OneOf(v, "[" + v + "]", "{\"nested\":" + v + "}")).SelectMany(g => g), Member)),
        (1, s_deep.Select(v => Member("deep", v))));

    /// <summary>Whitespace for one <see cref="Gap"/>: mostly none, so the compact fast path is what is mostly tested.</summary>
    private static readonly Gen<Func<Random, string>> s_layout = Gen.Frequency(
        (6, Gen.Const<Func<Random, string>>(_ => "")),
        (2, Gen.Const<Func<Random, string>>(random => random.Next(4) == 0 ? Whitespace(random) : "")),
        (1, Gen.Const<Func<Random, string>>(Whitespace)));

    private static readonly Gen<string> s_document = Gen.Select(
        ObjectOf(s_rootMember, 8),
        Gen.Frequency((19, Gen.Const("")), (1, Gen.OneOf("\uFEFF", "\f", "x", "\u00a0"))),
        Gen.Frequency((19, Gen.Const("")), (1, Gen.OneOf("x", "}", "{}", "\f", "\0", "//", " 1", "\u00a0", ","))),
        s_layout,
        Gen.Int,
        (root, leading, trailing, layout, seed) =>
        {
            var random = new Random(seed);
            var text = new StringBuilder(leading + Gap + root + Gap + trailing);
            var result = new StringBuilder(text.Length + 64);
            foreach (var c in text.ToString())
            {
                result.Append(c == Gap ? layout(random) : c.ToString());
            }

            return result.ToString();
        });

    /// <summary>A byte-level edit: 0 deletes, 1 inserts, 2 replaces, 3 truncates at <c>Position</c> (modulo the length).</summary>
    private static readonly Gen<(int Kind, int Position, byte Value)> s_mutation = Gen.Select(
        Gen.Int[0, 3],
        Gen.Int[0, int.MaxValue],
        Gen.Frequency(
            (3, Gen.OneOf("\"\\{}[],: 0-e.un\t\n"u8.ToArray())),
            (1, Gen.OneOf<byte>(0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF)),
            (1, Gen.Byte)));

    public static readonly Gen<EnrichmentCase> Cases = Gen.Select(
        s_document,
        Gen.Frequency((1, Gen.Const(Array.Empty<(int, int, byte)>())), (1, s_mutation.Array[1, 3])),
        Gen.Int[0, s_rootIds.Length - 1],
        (document, mutations, root) => new EnrichmentCase(Mutate(Encoding.UTF8.GetBytes(document), mutations), s_rootIds[root]));

    private static string Quoted(string content) => "\"" + content + "\"";

    private static string Member(string name, string value) => Gap + Quoted(name) + Gap + ":" + Gap + value + Gap;

    private static Gen<string> ObjectOf(Gen<string> member, int maxMembers) =>
        member.Array[0, maxMembers].Select(members => "{" + (members.Length == 0 ? Gap.ToString() : string.Join(",", members)) + "}");

    private static Gen<string> ArrayOf(Gen<string> element, int maxElements) =>
        element.Array[0, maxElements].Select(elements => "[" + (elements.Length == 0 ? Gap.ToString() : string.Join(",", elements.Select(e => Gap + e + Gap))) + "]");

    private static Gen<string>[] BuildValues(int maxDepth)
    {
        var values = new Gen<string>[maxDepth + 1];
        values[0] = s_scalar;
        for (var depth = 1; depth <= maxDepth; depth++)
        {
            var inner = values[depth - 1];
            values[depth] = Gen.Frequency(
                (6, s_scalar),
                (2, ObjectOf(Gen.Select(Gen.Frequency((3, Gen.OneOf("a", "value", "span_id", "is_segment", "attributes", "")), (1, s_stringContent)), inner, Member), 4)),
                (2, ArrayOf(inner, 4)));
        }

        return values;
    }

    private static string Whitespace(Random random)
    {
        var builder = new StringBuilder();
        var length = random.Next(1, 4);
        for (var i = 0; i < length; i++)
        {
            builder.Append(" \t\n\r"[random.Next(4)]);
        }

        return builder.ToString();
    }

    private static byte[] Mutate(byte[] payload, (int Kind, int Position, byte Value)[] mutations)
    {
        var bytes = new List<byte>(payload);
        foreach (var (kind, position, value) in mutations)
        {
            var at = position % (bytes.Count + 1);
            switch (kind)
            {
                case 0 when at < bytes.Count:
                    bytes.RemoveAt(at);
                    break;
                case 1:
                    bytes.Insert(at, value);
                    break;
                case 2 when at < bytes.Count:
                    bytes[at] = value;
                    break;
                case 3:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
            }
        }

        return [.. bytes];
    }
}
