using System.Collections;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Dropbox.SecurityTests.Fuzzing;

/// <summary>
/// Mutates a serialized request, guided by its message descriptor: field-level changes (strings from a hostile pool,
/// numbers at their extremes, repeated fields emptied or inflated), raw field injection (invalid UTF-8, wrong wire
/// types, unknown fields, deep groups) and byte-level damage (bit flips, truncation, insertion, deletion, duplicated
/// ranges, rewritten length prefixes, random varints). Deterministic for a given <see cref="Random"/>.
/// </summary>
internal sealed class MessageMutator(Random random, IReadOnlyList<string> stringPool, IReadOnlyList<ByteString> bytesPool)
{
    private static readonly byte[][] InvalidUtf8 =
    [
        [0xFF],
        [0xC3, 0x28],
        [0xE2, 0x28, 0xA1],
        [0xF0, 0x28, 0x8C, 0x28],
        [0xC0, 0xAF],                   // overlong '/'
        [0xED, 0xA0, 0x80],             // UTF-16 surrogate
        [0xF4, 0x90, 0x80, 0x80],       // beyond U+10FFFF
        [0x61, 0x2F, 0x80, 0x62],       // "a/" + lone continuation + "b"
        [0xFE, 0xFE, 0xFF, 0xFF],
    ];

    private static readonly string[] HostileStrings =
    [
        string.Empty, "a", ".", "..", "../x", "../../etc/passwd", "/abs/x", "a/../../x", "a/./b", "a//b", "a/", "C:\\x", "\\\\server\\share",
        "a\0b", "\0", " ", "a\nb", "con", "nul.txt", "\u202Eexe.txt", "e\u0301", "\u00e9", "\uD800", "\uDFFF", "😀/😀",
        "Bearer", "Bearer ", "%00", "%2e%2e/x", "?token=x", "*", "\t",
    ];

    private static readonly long[] Int64Extremes = [0, 1, -1, long.MinValue, long.MaxValue, long.MinValue + 1, int.MaxValue, int.MinValue, 253_402_300_800_000, -62_135_596_800_001];
    private static readonly ulong[] UInt64Extremes = [0, 1, ulong.MaxValue, 1UL << 63, (1UL << 63) - 1, uint.MaxValue, (ulong)uint.MaxValue + 1, 64UL * 1024 * 1024 + 1];
    private static readonly uint[] UInt32Extremes = [0, 1, uint.MaxValue, 1U << 31, 64U * 1024 * 1024, (64U * 1024 * 1024) + 1, 4U * 1024 * 1024, 10_001, 301];
    private static readonly int[] Int32Extremes = [0, 1, -1, int.MinValue, int.MaxValue, 2, 99, 1000];

    /// <summary>One mutated serialization of <paramref name="seed"/> (a valid message of type <paramref name="type"/>).</summary>
    public byte[] Mutate(byte[] seed, MessageDescriptor type)
    {
        var roll = random.Next(100);
        byte[] result;
        if (roll < 40)
        {
            var message = type.Parser.ParseFrom(seed);
            var edits = 1 + random.Next(3);
            for (var i = 0; i < edits; i++)
            {
                MutateFields(message, 0);
            }

            result = message.ToByteArray();
            if (random.Next(4) == 0)
            {
                result = Inject(result, type);
            }
        }
        else if (roll < 60)
        {
            result = Inject(seed, type);
        }
        else
        {
            result = seed;
            var edits = 1 + random.Next(4);
            for (var i = 0; i < edits; i++)
            {
                result = DamageBytes(result, type);
            }
        }

        return result;
    }

    // ------------------------------------------------------------------ field level

    private void MutateFields(IMessage message, int depth)
    {
        var fields = message.Descriptor.Fields.InFieldNumberOrder();
        if (fields.Count == 0)
        {
            return;
        }

        var field = fields[random.Next(fields.Count)];
        if (field.IsRepeated)
        {
            MutateRepeated(field, (IList)field.Accessor.GetValue(message), depth);
            return;
        }

        if (field.FieldType == FieldType.Message)
        {
            var sub = (IMessage?)field.Accessor.GetValue(message);
            if (sub is null || random.Next(5) == 0)
            {
                sub = field.MessageType.Parser.ParseFrom(ByteString.Empty);
                field.Accessor.SetValue(message, sub);
            }

            if (depth < 4)
            {
                MutateFields(sub, depth + 1);
            }

            return;
        }

        if (random.Next(8) == 0)
        {
            field.Accessor.Clear(message);
            return;
        }

        field.Accessor.SetValue(message, RandomScalar(field));
    }

    private void MutateRepeated(FieldDescriptor field, IList list, int depth)
    {
        switch (random.Next(6))
        {
            case 0:
                list.Clear();
                break;
            case 1 when list.Count > 0:
                // Inflate: the same element many times ("huge repeated field", cheap for the server to dedupe or not).
                var element = list[random.Next(list.Count)];
                var copies = random.Next(10) == 0 ? 20_000 + random.Next(80_000) : random.Next(2_000);
                for (var i = 0; i < copies; i++)
                {
                    list.Add(element is IMessage m ? m.Descriptor.Parser.ParseFrom(m.ToByteString()) : element);
                }

                break;
            case 2 when list.Count > 0 && field.FieldType == FieldType.Message && depth < 4:
                MutateFields((IMessage)list[random.Next(list.Count)]!, depth + 1);
                break;
            case 3 when list.Count > 1:
                list.RemoveAt(random.Next(list.Count));
                break;
            default:
                var add = 1 + random.Next(random.Next(10) == 0 ? 500 : 8);
                for (var i = 0; i < add; i++)
                {
                    if (field.FieldType == FieldType.Message)
                    {
                        var fresh = field.MessageType.Parser.ParseFrom(ByteString.Empty);
                        if (depth < 4)
                        {
                            MutateFields(fresh, depth + 1);
                        }

                        list.Add(fresh);
                    }
                    else
                    {
                        list.Add(RandomScalar(field));
                    }
                }

                break;
        }
    }

    private object RandomScalar(FieldDescriptor field) => field.FieldType switch
    {
        FieldType.String => RandomString(),
        FieldType.Bytes => RandomBytes(),
        FieldType.Bool => random.Next(2) == 0,
        FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => random.Next(3) == 0 ? random.NextInt64(long.MinValue, long.MaxValue) : Int64Extremes[random.Next(Int64Extremes.Length)],
        FieldType.UInt64 or FieldType.Fixed64 => random.Next(3) == 0 ? (ulong)random.NextInt64(long.MinValue, long.MaxValue) : UInt64Extremes[random.Next(UInt64Extremes.Length)],
        FieldType.UInt32 or FieldType.Fixed32 => random.Next(3) == 0 ? (uint)random.Next(int.MinValue, int.MaxValue) : UInt32Extremes[random.Next(UInt32Extremes.Length)],
        FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => random.Next(3) == 0 ? random.Next(int.MinValue, int.MaxValue) : Int32Extremes[random.Next(Int32Extremes.Length)],
        FieldType.Enum => Enum.ToObject(field.EnumType.ClrType, Int32Extremes[random.Next(Int32Extremes.Length)]),
        FieldType.Double => double.NaN,
        FieldType.Float => float.PositiveInfinity,
        _ => throw new NotSupportedException($"field type {field.FieldType} of {field.FullName}"),
    };

    public string RandomString()
    {
        switch (random.Next(8))
        {
            case 0:
                return HostileStrings[random.Next(HostileStrings.Length)];
            case 1 when stringPool.Count > 0:
                // Credentials, cursors, paths of this run, swapped into any string field.
                return stringPool[random.Next(stringPool.Count)];
            case 2 when stringPool.Count > 0:
                var s = stringPool[random.Next(stringPool.Count)];
                return s.Length == 0 ? s : s[..random.Next(s.Length)] + (char)random.Next(32, 127) + s[Math.Min(s.Length, random.Next(s.Length) + 1)..];
            case 3:
                // Long: a path or token far over any limit.
                return new string((char)random.Next(33, 127), random.Next(3) == 0 ? 70_000 + random.Next(100_000) : 4_000 + random.Next(1_000));
            case 4:
                return string.Join('/', Enumerable.Range(0, 1 + random.Next(300)).Select(i => "d" + i));
            default:
                var chars = new char[random.Next(40)];
                for (var i = 0; i < chars.Length; i++)
                {
                    chars[i] = random.Next(10) == 0 ? (char)random.Next(0, 0x10000) : (char)random.Next(32, 127);
                }

                return new string(chars);
        }
    }

    private ByteString RandomBytes()
    {
        if (bytesPool.Count > 0 && random.Next(3) == 0)
        {
            return bytesPool[random.Next(bytesPool.Count)];
        }

        int[] lengths = [0, 1, 31, 32, 33, 64, 4096, random.Next(200)];
        var bytes = new byte[lengths[random.Next(lengths.Length)]];
        random.NextBytes(bytes);
        return ByteString.CopyFrom(bytes);
    }

    // ------------------------------------------------------------------ raw injection

    /// <summary>Appends raw fields (a later singular field wins when parsed, so this overrides as well as adds).</summary>
    private byte[] Inject(byte[] message, MessageDescriptor type)
    {
        var writer = new WireWriter().Raw(message);
        var count = 1 + random.Next(3);
        for (var i = 0; i < count; i++)
        {
            WriteRandomField(writer, type, 0);
        }

        return writer.ToArray();
    }

    private void WriteRandomField(WireWriter writer, MessageDescriptor type, int depth)
    {
        var fields = type.Fields.InFieldNumberOrder();
        var roll = random.Next(100);
        if (fields.Count == 0 || roll < 8)
        {
            // Unknown field of any wire type, a reserved number, or a deep group the parser must skip.
            switch (random.Next(4))
            {
                case 0:
                    writer.Tag(1 + random.Next(536_870_911), WireType.Varint).Varint((ulong)random.NextInt64());
                    break;
                case 1:
                    writer.LengthDelimited(1000 + random.Next(1000), RandomRaw(random.Next(64)));
                    break;
                case 2:
                    var depthOfGroups = 50 + random.Next(200);
                    for (var i = 0; i < depthOfGroups; i++)
                    {
                        writer.Tag(2000, WireType.StartGroup);
                    }

                    for (var i = 0; i < depthOfGroups; i++)
                    {
                        writer.Tag(2000, WireType.EndGroup);
                    }

                    break;
                default:
                    writer.Tag(19_000 + random.Next(1000), (WireType)random.Next(6)); // reserved range, maybe a dangling tag
                    break;
            }

            return;
        }

        var field = fields[random.Next(fields.Count)];
        var repeats = field.IsRepeated && random.Next(4) == 0 ? 1 + random.Next(300) : 1;
        for (var r = 0; r < repeats; r++)
        {
            if (random.Next(12) == 0)
            {
                // Wrong wire type for the field.
                var wrong = (WireType)random.Next(6);
                writer.Tag(field.FieldNumber, wrong);
                if (wrong == WireType.Varint)
                {
                    writer.Varint((ulong)random.NextInt64());
                }
                else if (wrong == WireType.LengthDelimited)
                {
                    writer.Varint(3).Raw(RandomRaw(3));
                }

                continue;
            }

            switch (field.FieldType)
            {
                case FieldType.String:
                    writer.LengthDelimited(field.FieldNumber, RandomUtf8Hostile());
                    break;
                case FieldType.Bytes:
                    writer.LengthDelimited(field.FieldNumber, RandomBytes().Span);
                    break;
                case FieldType.Message:
                    var inner = new WireWriter();
                    var n = random.Next(depth < 3 ? 4 : 1);
                    for (var i = 0; i < n; i++)
                    {
                        WriteRandomField(inner, field.MessageType, depth + 1);
                    }

                    writer.LengthDelimited(field.FieldNumber, inner.ToArray());
                    break;
                default:
                    writer.Tag(field.FieldNumber, WireType.Varint).Varint(RandomVarint());
                    break;
            }
        }
    }

    private byte[] RandomUtf8Hostile()
    {
        var prefix = Encoding.UTF8.GetBytes(random.Next(2) == 0 ? "docs/" : RandomString());
        var bad = InvalidUtf8[random.Next(InvalidUtf8.Length)];
        return random.Next(3) switch
        {
            0 => [.. bad],
            1 => [.. prefix, .. bad],
            _ => [.. bad, .. prefix, .. bad],
        };
    }

    private ulong RandomVarint() => random.Next(3) switch
    {
        0 => UInt64Extremes[random.Next(UInt64Extremes.Length)],
        1 => unchecked((ulong)Int64Extremes[random.Next(Int64Extremes.Length)]),
        _ => (ulong)random.NextInt64(long.MinValue, long.MaxValue),
    };

    private byte[] RandomRaw(int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    // ------------------------------------------------------------------ byte level

    private byte[] DamageBytes(byte[] data, MessageDescriptor type)
    {
        var list = new List<byte>(data);
        switch (random.Next(10))
        {
            case 0 when list.Count > 0:
                var bit = random.Next(list.Count * 8);
                list[bit / 8] ^= (byte)(1 << (bit % 8));
                break;
            case 1 when list.Count > 0:
                byte[] interesting = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xC0];
                list[random.Next(list.Count)] = interesting[random.Next(interesting.Length)];
                break;
            case 2 when list.Count > 0:
                var cut = random.Next(list.Count);
                list.RemoveRange(cut, list.Count - cut);
                break;
            case 3:
                list.InsertRange(random.Next(list.Count + 1), RandomRaw(1 + random.Next(16)));
                break;
            case 4 when list.Count > 1:
                var at = random.Next(list.Count);
                list.RemoveRange(at, Math.Min(list.Count - at, 1 + random.Next(8)));
                break;
            case 5 when list.Count > 0:
                // Duplicate a range (often whole fields): repeated fields grow, singular fields appear twice.
                var from = random.Next(list.Count);
                var len = Math.Min(list.Count - from, 1 + random.Next(list.Count));
                list.InsertRange(random.Next(list.Count + 1), list.GetRange(from, len));
                break;
            case 6:
                return RewriteLength(data);
            case 7:
                // A random varint field, or an over-long (11-byte) varint that no parser may accept.
                var writer = new WireWriter().Tag(type.Fields.InFieldNumberOrder().Count > 0 && random.Next(2) == 0 ? type.Fields.InFieldNumberOrder()[0].FieldNumber : 1 + random.Next(30), WireType.Varint);
                byte[] varint = random.Next(3) == 0 ? [.. Enumerable.Repeat((byte)0xFF, 10), 0x01] : WireWriter.EncodeVarint(RandomVarint());
                list.InsertRange(random.Next(list.Count + 1), [.. writer.ToArray(), .. varint]);
                break;
            case 8:
                list.AddRange(data); // the whole message twice
                break;
            default:
                if (list.Count > 0)
                {
                    var start = random.Next(list.Count);
                    var n = Math.Min(list.Count - start, 1 + random.Next(32));
                    var junk = RandomRaw(n);
                    for (var i = 0; i < n; i++)
                    {
                        list[start + i] = junk[i];
                    }
                }

                break;
        }

        return [.. list];
    }

    /// <summary>Rewrites the length prefix of a length-delimited field (too short, too long, zero, huge).</summary>
    private byte[] RewriteLength(byte[] data)
    {
        var delimited = WireField.Scan(data).Where(f => f.Type == WireType.LengthDelimited).ToList();
        if (delimited.Count == 0)
        {
            return [.. data, .. WireWriter.EncodeVarint((1UL << 3) | 2), .. WireWriter.EncodeVarint(uint.MaxValue)];
        }

        var field = delimited[random.Next(delimited.Count)];
        var length = (ulong)(field.End - field.PayloadAt);
        ulong[] choices = [length + 1, length == 0 ? 0 : length - 1, 0, length + (ulong)random.Next(1, 1000), uint.MaxValue, ulong.MaxValue, int.MaxValue];
        var newLength = WireWriter.EncodeVarint(choices[random.Next(choices.Length)]);
        return [.. data.AsSpan(0, field.LengthAt), .. newLength, .. data.AsSpan(field.LengthAt + field.LengthBytes)];
    }
}
