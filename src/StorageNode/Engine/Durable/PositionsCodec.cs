using System.Buffers.Binary;

namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>Body of the positions record: <c>checkpoint token [16] | segment i32 | offset i64</c> (version 1).</summary>
internal sealed class PositionsCodec : ILogRecordCodec<Positions>
{
    public static PositionsCodec Instance { get; } = new();

    public byte RecordType => 1;

    public byte Version => 1;

    public string Name => "positions";

    public int GetSize(Positions record) => 28;

    public void Write(Positions record, Span<byte> body)
    {
        record.Token.TryWriteBytes(body);
        BinaryPrimitives.WriteInt32LittleEndian(body[16..], record.Segment);
        BinaryPrimitives.WriteInt64LittleEndian(body[20..], record.Offset);
    }

    public Positions Read(byte version, ReadOnlySpan<byte> body) =>
        body.Length == 28
            ? new Positions(new Guid(body[..16]), BinaryPrimitives.ReadInt32LittleEndian(body[16..]), BinaryPrimitives.ReadInt64LittleEndian(body[20..]))
            : throw new LogFormatException($"A positions record has {body.Length} bytes; version {version} has 28.");
}
