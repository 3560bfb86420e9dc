namespace Dropbox.SecurityTests.Fuzzing;

/// <summary>One top-level field as found in a serialized message: where its tag, its length prefix (if any) and its payload lie.</summary>
internal readonly record struct WireField(int Start, int Number, WireType Type, int LengthAt, int LengthBytes, int PayloadAt, int End)
{
    /// <summary>Splits a message into its top-level fields; stops (without failing) at the first malformed byte.</summary>
    public static List<WireField> Scan(ReadOnlySpan<byte> message)
    {
        var fields = new List<WireField>();
        var pos = 0;
        while (pos < message.Length)
        {
            var start = pos;
            if (!TryVarint(message, ref pos, out var tag) || tag >> 3 == 0 || tag >> 3 > int.MaxValue)
            {
                break;
            }

            var type = (WireType)(tag & 7);
            int lengthAt = -1, lengthBytes = 0, payloadAt = pos;
            switch (type)
            {
                case WireType.Varint:
                    if (!TryVarint(message, ref pos, out _))
                    {
                        return fields;
                    }

                    break;
                case WireType.Fixed64:
                    pos += 8;
                    break;
                case WireType.Fixed32:
                    pos += 4;
                    break;
                case WireType.LengthDelimited:
                    lengthAt = pos;
                    if (!TryVarint(message, ref pos, out var length) || length > (ulong)(message.Length - pos))
                    {
                        return fields;
                    }

                    lengthBytes = pos - lengthAt;
                    payloadAt = pos;
                    pos += (int)length;
                    break;
                default:
                    return fields;
            }

            if (pos > message.Length)
            {
                break;
            }

            fields.Add(new WireField(start, (int)(tag >> 3), type, lengthAt, lengthBytes, payloadAt, pos));
        }

        return fields;
    }

    private static bool TryVarint(ReadOnlySpan<byte> data, ref int pos, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64 && pos < data.Length; shift += 7)
        {
            var b = data[pos++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }
}
