using Dropbox.StorageNode.Engine.Durable;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// The segments' record format (<see cref="SegmentRecord"/>, version 1: magic "DBXC", 64-byte self-checking header)
/// for the recovery walk (<see cref="FrameScanner"/>). Tombstones carry no payload to check.
/// </summary>
internal sealed class SegmentRecordFormat : IFrameFormat<RecordHeader>
{
    public static SegmentRecordFormat Instance { get; } = new();

    public int HeaderSize => SegmentRecord.HeaderSize;

    public bool TryReadHeader(ReadOnlySpan<byte> header, out RecordHeader parsed) => SegmentRecord.TryReadHeader(header, out parsed);

    public int BodyLength(in RecordHeader header) => header.StoredLength;

    public bool BodyMatches(in RecordHeader header, ReadOnlySpan<byte> body) =>
        header.Kind != RecordKind.Chunk || SegmentRecord.PayloadMatches(header, body);
}
