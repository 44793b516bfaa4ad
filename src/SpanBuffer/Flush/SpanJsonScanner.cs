using System.Buffers.Text;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.Unicode;

namespace SpanBuffer.Flush;

/// <summary>
/// A payload offset with the number of whitespace bytes outside strings before it, so compacting the text between
/// two marks is sized without looking at it again.
/// </summary>
internal readonly record struct JsonMark(int Offset, int WhitespaceBefore)
{
    /// <summary>Gets the length of the text from <paramref name="start"/> to <paramref name="end"/> once whitespace outside strings is dropped.</summary>
    public static int CompactLength(JsonMark start, JsonMark end) => end.Offset - start.Offset - (end.WhitespaceBefore - start.WhitespaceBefore);
}

/// <summary>What the last <c>attributes</c> member of a span is.</summary>
internal enum AttributesKind
{
    Missing,
    Object,
    NotObject,
}

/// <summary>
/// The members of a span payload that enrichment reads or rewrites. For a key given more than once the last
/// occurrence counts, as it does for a JSON parser that builds a dictionary; earlier ones are plain members.
/// </summary>
internal struct ScannedSpan
{
    /// <summary>The span_id string between its quotes, escapes included; meaningful when <see cref="HasSpanId"/>.</summary>
    public Range SpanIdText;
    public bool HasSpanId;
    public bool SpanIdIsEscaped;

    public bool HasIsSegment;
    public JsonMark IsSegmentStart;
    public JsonMark IsSegmentEnd;

    public AttributesKind Attributes;
    public JsonMark AttributesStart;
    public JsonMark AttributesEnd;

    /// <summary>The closing brace of an object-valued attributes.</summary>
    public JsonMark AttributesClose;
    public bool AttributesEmpty;

    public bool HasSegmentId;
    public JsonMark SegmentIdStart;
    public JsonMark SegmentIdEnd;
    public bool SegmentIdIsTruthy;

    /// <summary>The closing brace of the span object.</summary>
    public JsonMark RootClose;
    public bool RootEmpty;
}

/// <summary>
/// A single-pass validating scanner for span payloads. It accepts exactly what <c>Utf8JsonReader</c> (default options,
/// <c>MaxDepth</c> 512) accepts as one JSON object followed only by whitespace, and also requires valid UTF-8, which
/// the reader does not check inside strings. Along the way it records the members enrichment needs
/// (<see cref="ScannedSpan"/>).
/// </summary>
/// <remarks>
/// Speed comes from not making each token wait for the previous one. The payload is classified 64 bytes at a time
/// into a bit mask of the bytes that end plain string content (quote, backslash, control byte), and a string's end is
/// the next unconsumed bit of that mask rather than the result of a search started where the string starts: a
/// search's load, compare and bit scan put a dependency chain through every token, consuming mask bits does not. The
/// scanner is one method, a state machine whose states are labels, so the position and the pending mask bits stay in
/// registers; calls would spill them. What enrichment records lives in memory (<c>Tracking</c>), and escapes,
/// whitespace, escaped names and truthiness are handled by helpers off the common path. Objects shaped like typed
/// attribute values, <c>{"type":"string","value":...}</c>, are matched by their bytes up to the value.
/// </remarks>
internal static class SpanJsonScanner
{
    /// <summary>The nesting limit, counting the span object itself, as configured for the reader this replaces.</summary>
    public const int MaxDepth = 512;

    private const int BlockSize = 64;

    private static ReadOnlySpan<byte> SegmentIdName => "sentry.segment.id"u8;

    private static ReadOnlySpan<byte> ValueName => "value"u8;

    /// <summary>The members of the span object enrichment looks for.</summary>
    private enum RootMember
    {
        Other,
        SpanId,
        IsSegment,
        Attributes,
    }

    /// <summary>
    /// What the scan tracks besides its position, kept out of registers on purpose: it is touched at the few tokens
    /// that matter for enrichment, while the position, the pending mask bits and the nesting are touched at every token.
    /// </summary>
    private struct Tracking
    {
        /// <summary>The result, copied out at the end so the scan needs no register for the caller's struct.</summary>
        public ScannedSpan Span;
        public int Whitespace;
        public ulong NonAscii;
        public int StringStart;
        public bool StringIsEscaped;
        public RootMember RootMember;
        public bool IsSegmentIdAttribute;
        public bool IsValueMember;
        public bool AttributesIsObject;
        public bool SegmentIdIsObject;
        public bool SegmentIdIsTruthy;
        public JsonMark RootValueStart;
        public JsonMark AttributeValueStart;
        public int SegmentIdMemberValueStart;
    }

    /// <summary>Validates <paramref name="json"/> and locates its enrichment members; false if it is not one valid JSON object.</summary>
    public static bool TryScan(ReadOnlySpan<byte> json, out ScannedSpan span)
    {
        span = default;
        var tracking = default(Tracking);
        tracking.Span.RootEmpty = true;

        var position = SkipWhitespace(json, 0);
        tracking.Whitespace = position;
        if ((uint)position >= (uint)json.Length || json[position] != (byte)'{')
        {
            return false;
        }

        // Specials (quote, backslash, control byte) of the 64-byte block at blockStart not consumed yet.
        var blockStart = position & ~(BlockSize - 1);
        var pending = SpecialMask(json, blockStart, ref tracking.NonAscii);

        // Containers: depth counts the open ones; kinds has bit d - 1 set when the one at depth d is an object.
        var kinds = default(ContainerKinds);
        var depth = 0;
        var inObject = true;

        // Values at depth <= trackedDepth are members of the span object (1), of its attributes object (2) or of the
        // sentry.segment.id attribute object (3); deeper ones are only validated.
        var trackedDepth = 1;
        var isTracked = true;
        byte current;

    // Opens the object whose brace is at position.
    OpenObject:
        if (++depth > MaxDepth)
        {
            return false;
        }

        kinds.Set(depth, isObject: true);
        inObject = true;
        if (depth == 2 && trackedDepth == 1 && tracking.RootMember == RootMember.Attributes)
        {
            trackedDepth = 2;
            tracking.AttributesIsObject = true;
            tracking.Span.AttributesEmpty = true;
            tracking.Span.HasSegmentId = false;
            tracking.Span.SegmentIdIsTruthy = false;
        }
        else if (depth == 3 && trackedDepth == 2 && tracking.IsSegmentIdAttribute)
        {
            trackedDepth = 3;
            tracking.SegmentIdIsObject = true;
            tracking.SegmentIdIsTruthy = false;
        }

        isTracked = depth <= trackedDepth;
        if (!isTracked)
        {
            var prefix = TypedValuePrefixLength(json[position..]);
            if (prefix > 0)
            {
                // The bytes up to the value are known valid: skip them and the specials (quotes) among them.
                position += prefix;
                if (position - blockStart >= BlockSize)
                {
                    blockStart = position & ~(BlockSize - 1);
                    pending = SpecialMask(json, blockStart, ref tracking.NonAscii);
                }

                pending &= ulong.MaxValue << (position - blockStart);
                goto Value;
            }
        }

        position++;
        if ((uint)position >= (uint)json.Length)
        {
            return false;
        }

        current = json[position];
        if (current <= (byte)' ')
        {
            position = SkipWhitespace(json, position, ref tracking.Whitespace);
            if ((uint)position >= (uint)json.Length)
            {
                return false;
            }

            current = json[position];
        }

        if (current == (byte)'}')
        {
            goto Close;
        }

    // Expects a member name, whose opening quote would be at position; its end is the next special bit.
    Name:
        if (current != (byte)'"')
        {
            return false;
        }

        if (position - blockStart >= BlockSize)
        {
            blockStart = position & ~(BlockSize - 1);
            pending = SpecialMask(json, blockStart, ref tracking.NonAscii);
        }

        // What is pending before the opening quote is whitespace between tokens; the quote itself goes too.
        pending &= ulong.MaxValue << (position - blockStart) << 1;
        if (isTracked)
        {
            tracking.StringStart = position + 1;
            tracking.StringIsEscaped = false;
        }

    NameContent:
        while (pending == 0)
        {
            blockStart += BlockSize;
            if (blockStart >= json.Length)
            {
                return false;
            }

            pending = SpecialMask(json, blockStart, ref tracking.NonAscii);
        }

        position = blockStart + BitOperations.TrailingZeroCount(pending);
        pending &= pending - 1;
        if (json[position] != (byte)'"')
        {
            (position, pending, blockStart) = SkipEscape(json, position, pending, blockStart, ref tracking);
            if (position < 0)
            {
                return false;
            }

            goto NameContent;
        }

        position++;
        if (isTracked)
        {
            ClassifyName(ref tracking, json[tracking.StringStart..(position - 1)], depth);
        }

        if ((uint)position >= (uint)json.Length)
        {
            return false;
        }

        if (json[position] != (byte)':')
        {
            position = SkipWhitespace(json, position, ref tracking.Whitespace);
            if ((uint)position >= (uint)json.Length || json[position] != (byte)':')
            {
                return false;
            }
        }

        position++;

    // Expects a value at position.
    Value:
        if ((uint)position >= (uint)json.Length)
        {
            return false;
        }

        current = json[position];
        if (current <= (byte)' ')
        {
            position = SkipWhitespace(json, position, ref tracking.Whitespace);
            if ((uint)position >= (uint)json.Length)
            {
                return false;
            }

            current = json[position];
        }

        if (isTracked)
        {
            RecordValueStart(ref tracking, position, depth);
        }

        switch (current)
        {
            case (byte)'"':
                goto StringValue;
            case (byte)'{':
                goto OpenObject;
            case (byte)'[':
                if (++depth > MaxDepth)
                {
                    return false;
                }

                kinds.Set(depth, isObject: false);
                inObject = false;
                isTracked = false;
                position++;
                if ((uint)position >= (uint)json.Length)
                {
                    return false;
                }

                current = json[position];
                if (current <= (byte)' ')
                {
                    position = SkipWhitespace(json, position, ref tracking.Whitespace);
                    if ((uint)position >= (uint)json.Length)
                    {
                        return false;
                    }

                    current = json[position];
                }

                if (current == (byte)']')
                {
                    goto Close;
                }

                goto Value;
            case (byte)'t':
                if (!json[position..].StartsWith("true"u8))
                {
                    return false;
                }

                position += 4;
                goto ValueDone;
            case (byte)'f':
                if (!json[position..].StartsWith("false"u8))
                {
                    return false;
                }

                position += 5;
                goto ValueDone;
            case (byte)'n':
                if (!json[position..].StartsWith("null"u8))
                {
                    return false;
                }

                position += 4;
                goto ValueDone;
            default:
                position = SkipNumber(json, position);
                if (position < 0)
                {
                    return false;
                }

                goto ValueDone;
        }

    // A string value whose opening quote is at position: as a name, but with different tracking.
    StringValue:
        if (position - blockStart >= BlockSize)
        {
            blockStart = position & ~(BlockSize - 1);
            pending = SpecialMask(json, blockStart, ref tracking.NonAscii);
        }

        pending &= ulong.MaxValue << (position - blockStart) << 1;
        if (isTracked)
        {
            tracking.StringStart = position + 1;
            tracking.StringIsEscaped = false;
        }

    StringValueContent:
        while (pending == 0)
        {
            blockStart += BlockSize;
            if (blockStart >= json.Length)
            {
                return false;
            }

            pending = SpecialMask(json, blockStart, ref tracking.NonAscii);
        }

        position = blockStart + BitOperations.TrailingZeroCount(pending);
        pending &= pending - 1;
        if (json[position] != (byte)'"')
        {
            (position, pending, blockStart) = SkipEscape(json, position, pending, blockStart, ref tracking);
            if (position < 0)
            {
                return false;
            }

            goto StringValueContent;
        }

        position++;

    // A value ended at position: record it where it matters, then a comma or the container's end.
    ValueDone:
        if (isTracked && (depth != 1 || tracking.RootMember != RootMember.Other))
        {
            RecordValueEnd(ref tracking, json, position, depth);
        }

        if ((uint)position >= (uint)json.Length)
        {
            return false;
        }

        current = json[position];
        if (current <= (byte)' ')
        {
            position = SkipWhitespace(json, position, ref tracking.Whitespace);
            if ((uint)position >= (uint)json.Length)
            {
                return false;
            }

            current = json[position];
        }

        if (current == (byte)',')
        {
            position++;
            if (!inObject)
            {
                goto Value;
            }

            if ((uint)position >= (uint)json.Length)
            {
                return false;
            }

            current = json[position];
            if (current <= (byte)' ')
            {
                position = SkipWhitespace(json, position, ref tracking.Whitespace);
                if ((uint)position >= (uint)json.Length)
                {
                    return false;
                }

                current = json[position];
            }

            goto Name;
        }

        if (current != (inObject ? (byte)'}' : (byte)']'))
        {
            return false;
        }

    // The container at depth closes at position.
    Close:
        if (isTracked)
        {
            RecordClose(ref tracking, position, depth);
            trackedDepth = depth == 1 ? 1 : depth - 1;
        }

        position++;
        if (--depth > 0)
        {
            inObject = kinds.IsObject(depth);
            isTracked = depth <= trackedDepth;
            goto ValueDone;
        }

        // Only whitespace may follow the span object. Bytes the masks did not cover were all checked to be ASCII
        // syntax; non-ASCII ones can only be in strings, whose blocks were all classified.
        if (SkipWhitespace(json, position) != json.Length || (tracking.NonAscii != 0 && !Utf8.IsValid(json)))
        {
            return false;
        }

        span = tracking.Span;
        return true;
    }

    /// <summary>
    /// The length of <c>{"type":"&lt;type&gt;","value":</c> when <paramref name="json"/> starts with it for one of the
    /// attribute types, else 0. Span attributes are nearly all shaped so: matching the bytes validates the object's
    /// opening, both names and the type string at once, and the scan resumes at the value.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int TypedValuePrefixLength(ReadOnlySpan<byte> json)
    {
        var prefix = "{\"type\":\""u8;
        if (json.Length <= prefix.Length || !json.StartsWith(prefix))
        {
            return 0;
        }

        var rest = json[prefix.Length..];
        var suffix = rest[0] switch
        {
            (byte)'s' => "string\",\"value\":"u8,
            (byte)'i' => "integer\",\"value\":"u8,
            (byte)'d' => "double\",\"value\":"u8,
            (byte)'b' => "boolean\",\"value\":"u8,
            _ => default,
        };
        return !suffix.IsEmpty && rest.StartsWith(suffix) ? prefix.Length + suffix.Length : 0;
    }

    /// <summary>Classifies a member name of a tracked object: the span's own, its attributes', or the segment id attribute's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ClassifyName(ref Tracking tracking, ReadOnlySpan<byte> name, int depth)
    {
        if (tracking.StringIsEscaped)
        {
            ClassifyEscapedName(ref tracking, name, depth);
            return;
        }

        // Most names are none of those looked for: their length alone says so.
        switch (depth)
        {
            case 1:
                tracking.Span.RootEmpty = false;
                tracking.RootMember = name.Length switch
                {
                    7 when name.SequenceEqual("span_id"u8) => RootMember.SpanId,
                    10 when name.SequenceEqual("is_segment"u8) => RootMember.IsSegment,
                    10 when name.SequenceEqual("attributes"u8) => RootMember.Attributes,
                    _ => RootMember.Other,
                };
                break;
            case 2:
                tracking.Span.AttributesEmpty = false;
                tracking.IsSegmentIdAttribute = name.Length == 17 && name.SequenceEqual(SegmentIdName);
                break;
            default:
                tracking.IsValueMember = name.Length == 5 && name.SequenceEqual(ValueName);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ClassifyEscapedName(ref Tracking tracking, ReadOnlySpan<byte> name, int depth)
    {
        switch (depth)
        {
            case 1:
                tracking.Span.RootEmpty = false;
                tracking.RootMember = EscapedNameEquals(name, "span_id"u8) ? RootMember.SpanId
                    : EscapedNameEquals(name, "is_segment"u8) ? RootMember.IsSegment
                    : EscapedNameEquals(name, "attributes"u8) ? RootMember.Attributes
                    : RootMember.Other;
                break;
            case 2:
                tracking.Span.AttributesEmpty = false;
                tracking.IsSegmentIdAttribute = EscapedNameEquals(name, SegmentIdName);
                break;
            default:
                tracking.IsValueMember = EscapedNameEquals(name, ValueName);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RecordValueStart(ref Tracking tracking, int position, int depth)
    {
        switch (depth)
        {
            case 1:
                tracking.RootValueStart = new JsonMark(position, tracking.Whitespace);
                break;
            case 2:
                tracking.AttributeValueStart = new JsonMark(position, tracking.Whitespace);
                break;
            default:
                tracking.SegmentIdMemberValueStart = position;
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RecordValueEnd(ref Tracking tracking, ReadOnlySpan<byte> json, int position, int depth)
    {
        switch (depth)
        {
            case 1:
                RecordRootMember(ref tracking.Span, json, tracking.RootMember, tracking.RootValueStart, new JsonMark(position, tracking.Whitespace), tracking.AttributesIsObject, tracking.StringStart, tracking.StringIsEscaped);
                tracking.AttributesIsObject = false;
                break;
            case 2:
                if (tracking.IsSegmentIdAttribute)
                {
                    tracking.Span.HasSegmentId = true;
                    tracking.Span.SegmentIdStart = tracking.AttributeValueStart;
                    tracking.Span.SegmentIdEnd = new JsonMark(position, tracking.Whitespace);
                    tracking.Span.SegmentIdIsTruthy = tracking.SegmentIdIsObject && tracking.SegmentIdIsTruthy;
                    tracking.SegmentIdIsObject = false;
                }

                break;
            default:
                if (tracking.IsValueMember)
                {
                    tracking.SegmentIdIsTruthy = IsTruthy(json[tracking.SegmentIdMemberValueStart..position]);
                }

                break;
        }
    }

    private static void RecordClose(ref Tracking tracking, int position, int depth)
    {
        switch (depth)
        {
            case 1:
                tracking.Span.RootClose = new JsonMark(position, tracking.Whitespace);
                break;
            case 2:
                tracking.Span.AttributesClose = new JsonMark(position, tracking.Whitespace);
                break;
        }
    }

    /// <summary>
    /// Validates the escape whose backslash is at <paramref name="position"/> (a special that is not a quote: a
    /// backslash, or a control byte, which is invalid) and drops the specials it covers, as an escaped quote or
    /// backslash is one, possibly in the next block. Returns a negative position when invalid.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (int Position, ulong Pending, int BlockStart) SkipEscape(ReadOnlySpan<byte> json, int position, ulong pending, int blockStart, ref Tracking tracking)
    {
        var escapeLength = json[position] == (byte)'\\' ? EscapeLength(json, position) : 0;
        if (escapeLength == 0)
        {
            return (-1, 0, 0);
        }

        tracking.StringIsEscaped = true;
        var resume = position + escapeLength;
        if (resume - blockStart >= BlockSize)
        {
            if (resume >= json.Length)
            {
                return (-1, 0, 0);
            }

            blockStart = resume & ~(BlockSize - 1);
            pending = SpecialMask(json, blockStart, ref tracking.NonAscii);
        }

        return (resume, pending & (ulong.MaxValue << (resume - blockStart)), blockStart);
    }

    /// <summary>
    /// Skips a number per RFC 8259: <c>-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?</c>; negative if it is not
    /// one. What follows is checked by the caller, which accepts only whitespace, a comma or a closing bracket, so
    /// <c>01</c> or <c>1x</c> fail there as the reader fails them.
    /// </summary>
    private static int SkipNumber(ReadOnlySpan<byte> json, int position)
    {
        if (json[position] == (byte)'-')
        {
            position++;
            if ((uint)position >= (uint)json.Length)
            {
                return -1;
            }
        }

        var first = json[position];
        if (first == (byte)'0')
        {
            position++;
        }
        else if (char.IsAsciiDigit((char)first))
        {
            position = DigitRunEnd(json, position + 1);
        }
        else
        {
            return -1;
        }

        if ((uint)position < (uint)json.Length && json[position] == (byte)'.')
        {
            position++;
            if ((uint)position >= (uint)json.Length || !char.IsAsciiDigit((char)json[position]))
            {
                return -1;
            }

            position = DigitRunEnd(json, position + 1);
        }

        if ((uint)position < (uint)json.Length && (json[position] | 0x20) == (byte)'e')
        {
            position++;
            if ((uint)position < (uint)json.Length && json[position] is (byte)'+' or (byte)'-')
            {
                position++;
            }

            if ((uint)position >= (uint)json.Length || !char.IsAsciiDigit((char)json[position]))
            {
                return -1;
            }

            position = DigitRunEnd(json, position + 1);
        }

        return position;
    }

    /// <summary>The end of a run of digits from <paramref name="position"/>: a vector at a time, as timestamps and ids make runs long.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int DigitRunEnd(ReadOnlySpan<byte> json, int position)
    {
        if (Vector128.IsHardwareAccelerated && json.Length - position >= Vector128<byte>.Count)
        {
            var bytes = Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(json), (nuint)position);
            var nonDigits = Vector128.GreaterThan(bytes - Vector128.Create((byte)'0'), Vector128.Create((byte)9)).ExtractMostSignificantBits();
            if (nonDigits != 0)
            {
                return position + BitOperations.TrailingZeroCount(nonDigits);
            }

            position += Vector128<byte>.Count;
        }

        while ((uint)position < (uint)json.Length && char.IsAsciiDigit((char)json[position]))
        {
            position++;
        }

        return position;
    }

    /// <summary>Records a member of the span object whose value ran from <paramref name="start"/> to <paramref name="end"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RecordRootMember(ref ScannedSpan span, ReadOnlySpan<byte> json, RootMember member, JsonMark start, JsonMark end, bool attributesIsObject, int stringStart, bool stringIsEscaped)
    {
        switch (member)
        {
            case RootMember.IsSegment:
                span.HasIsSegment = true;
                span.IsSegmentStart = start;
                span.IsSegmentEnd = end;
                break;
            case RootMember.Attributes:
                span.AttributesStart = start;
                span.AttributesEnd = end;
                span.Attributes = attributesIsObject ? AttributesKind.Object : AttributesKind.NotObject;
                if (!attributesIsObject)
                {
                    span.HasSegmentId = false;
                    span.SegmentIdIsTruthy = false;
                }

                break;
            case RootMember.SpanId:
                span.HasSpanId = json[start.Offset] == (byte)'"';
                span.SpanIdIsEscaped = stringIsEscaped;
                span.SpanIdText = span.HasSpanId ? stringStart..(end.Offset - 1) : default;
                break;
        }
    }

    /// <summary>Compares a member name (between its quotes, with escapes) with <paramref name="expected"/> after unescaping, as <c>Utf8JsonReader.ValueTextEquals</c> does.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool EscapedNameEquals(ReadOnlySpan<byte> name, ReadOnlySpan<byte> expected)
    {
        // Unescaping never lengthens text, and the names compared are short: a small stack buffer always suffices.
        // A lone surrogate escape cannot spell an expected name, so an undecodable name is simply a different one.
        Span<byte> unescaped = stackalloc byte[32];
        return name.Length >= expected.Length
            && JsonUnescaper.TryUnescape(name, unescaped[..expected.Length], out var written)
            && unescaped[..written].SequenceEqual(expected);
    }

    /// <summary>
    /// Python truthiness of a validated value, as the reader-based code judged it: a non-empty string (its raw text,
    /// so <c>"\u0000"</c> counts), a number that parses (as <c>Utf8JsonReader.TryGetDouble</c> parses) to a non-zero
    /// double, <c>true</c>, or a non-empty object or array.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool IsTruthy(ReadOnlySpan<byte> value)
    {
        switch (value[0])
        {
            case (byte)'"':
                return value.Length > 2;
            case (byte)'t':
                return true;
            case (byte)'f' or (byte)'n':
                return false;
            case (byte)'{' or (byte)'[':
                // The container is valid, so its first byte after whitespace is either its closing bracket or a member.
                var inner = value[1..].TrimStart(" \t\n\r"u8);
                return inner[0] is not ((byte)'}' or (byte)']');
            default:
                return Utf8Parser.TryParse(value, out double number, out var consumed) && consumed == value.Length && number != 0;
        }
    }

    /// <summary>The length of the escape at <paramref name="backslash"/> (2, or 6 for <c>\uXXXX</c>), or 0 if it is not a valid one.</summary>
    private static int EscapeLength(ReadOnlySpan<byte> json, int backslash)
    {
        var rest = json[(backslash + 1)..];
        if (rest.IsEmpty)
        {
            return 0;
        }

        switch (rest[0])
        {
            case (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t':
                return 2;
            case (byte)'u' when rest.Length >= 5
                && char.IsAsciiHexDigit((char)rest[1]) && char.IsAsciiHexDigit((char)rest[2])
                && char.IsAsciiHexDigit((char)rest[3]) && char.IsAsciiHexDigit((char)rest[4]):
                return 6;
            default:
                return 0;
        }
    }

    private static int SkipWhitespace(ReadOnlySpan<byte> json, int position)
    {
        while ((uint)position < (uint)json.Length && json[position] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
        {
            position++;
        }

        return position;
    }

    /// <summary>Skips whitespace from <paramref name="position"/> and adds it to the count; compact payloads rarely get here.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int SkipWhitespace(ReadOnlySpan<byte> json, int position, ref int whitespace)
    {
        var end = SkipWhitespace(json, position);
        whitespace += end - position;
        return end;
    }

    /// <summary>
    /// The specials (quote, backslash, control byte) among the 64 bytes from <paramref name="start"/>, a bit each; bits
    /// past the payload's end are clear. Non-ASCII bytes are noted in <paramref name="nonAscii"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SpecialMask(ReadOnlySpan<byte> json, int start, ref ulong nonAscii) =>
        json.Length - start >= BlockSize
            ? Classify(ref Unsafe.Add(ref MemoryMarshal.GetReference(json), start), ref nonAscii)
            : ClassifyLastBlock(json, start, ref nonAscii);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong ClassifyLastBlock(ReadOnlySpan<byte> json, int start, ref ulong nonAscii)
    {
        if (json.Length >= BlockSize)
        {
            // Classify the payload's last 64 bytes and drop the ones before the block.
            return Classify(ref Unsafe.Add(ref MemoryMarshal.GetReference(json), json.Length - BlockSize), ref nonAscii) >> (BlockSize - (json.Length - start));
        }

        // A payload under 64 bytes: classified from a copy padded with zeros, whose bits are then dropped (a zero is
        // a control byte, so special).
        Span<byte> padded = stackalloc byte[BlockSize];
        padded.Clear();
        json.CopyTo(padded);
        return Classify(ref MemoryMarshal.GetReference(padded), ref nonAscii) & ((1UL << json.Length) - 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Classify(ref byte start, ref ulong nonAscii)
    {
        if (Vector256.IsHardwareAccelerated)
        {
            var low = Vector256.LoadUnsafe(ref start);
            var high = Vector256.LoadUnsafe(ref start, 32);
            nonAscii |= (low | high).ExtractMostSignificantBits();
            return SpecialBits(low) | ((ulong)SpecialBits(high) << 32);
        }

        var b0 = Vector128.LoadUnsafe(ref start);
        var b1 = Vector128.LoadUnsafe(ref start, 16);
        var b2 = Vector128.LoadUnsafe(ref start, 32);
        var b3 = Vector128.LoadUnsafe(ref start, 48);
        nonAscii |= (b0 | b1 | b2 | b3).ExtractMostSignificantBits();
        return SpecialBits(b0) | ((ulong)SpecialBits(b1) << 16) | ((ulong)SpecialBits(b2) << 32) | ((ulong)SpecialBits(b3) << 48);
    }

    /// <summary>Quote, backslash or control byte: what ends plain string content (a control byte makes it invalid).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint SpecialBits(Vector256<byte> bytes) =>
        (Vector256.Equals(bytes, Vector256.Create((byte)'"'))
            | Vector256.Equals(bytes, Vector256.Create((byte)'\\'))
            | Vector256.LessThan(bytes, Vector256.Create((byte)' '))).ExtractMostSignificantBits();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint SpecialBits(Vector128<byte> bytes) =>
        (Vector128.Equals(bytes, Vector128.Create((byte)'"'))
            | Vector128.Equals(bytes, Vector128.Create((byte)'\\'))
            | Vector128.LessThan(bytes, Vector128.Create((byte)' '))).ExtractMostSignificantBits();

    /// <summary>One bit per nesting level up to <see cref="MaxDepth"/>: set when the container there is an object.</summary>
    [InlineArray(MaxDepth / 64)]
    private struct ContainerKinds
    {
        private ulong _bits;

        public void Set(int depth, bool isObject)
        {
            var index = depth - 1;
            ref var word = ref this[index >> 6];
            word = isObject ? word | (1UL << index) : word & ~(1UL << index);
        }

        public readonly bool IsObject(int depth)
        {
            var index = depth - 1;
            return ((this[index >> 6] >> index) & 1) != 0;
        }
    }
}
