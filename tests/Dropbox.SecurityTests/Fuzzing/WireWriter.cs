namespace Dropbox.SecurityTests.Fuzzing;

/// <summary>Writes protobuf wire format by hand, so a fuzzer can say what no generated message can (invalid UTF-8, wrong wire types).</summary>
internal sealed class WireWriter
{
    private readonly List<byte> _bytes = [];

    public int Length => _bytes.Count;

    public byte[] ToArray() => [.. _bytes];

    public WireWriter Raw(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            _bytes.Add(b);
        }

        return this;
    }

    public WireWriter Varint(ulong value)
    {
        while (value >= 0x80)
        {
            _bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }

        _bytes.Add((byte)value);
        return this;
    }

    public WireWriter Tag(int field, WireType type) => Varint(((ulong)(uint)field << 3) | (uint)type);

    public WireWriter LengthDelimited(int field, ReadOnlySpan<byte> payload)
    {
        Tag(field, WireType.LengthDelimited);
        Varint((ulong)payload.Length);
        return Raw(payload);
    }

    /// <summary>Encodes a varint to bytes.</summary>
    public static byte[] EncodeVarint(ulong value) => new WireWriter().Varint(value).ToArray();
}
