using Dropbox.StorageNode.Engine.Durable;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// The segments' first record format (<see cref="LegacySegmentRecord"/>: magic "DBXC", 64-byte self-checking
/// header) for the recovery walk (<see cref="FrameScanner"/>). Tombstones carry no payload to check.
/// </summary>
internal sealed class LegacySegmentRecordFormat : IFrameFormat<RecordHeader>
{
    public static LegacySegmentRecordFormat Instance { get; } = new();

    public int HeaderSize => LegacySegmentRecord.HeaderSize;

    public bool TryReadHeader(ReadOnlySpan<byte> header, out RecordHeader parsed) => LegacySegmentRecord.TryReadHeader(header, out parsed);

    public int BodyLength(in RecordHeader header) => header.StoredLength;

    public bool BodyMatches(in RecordHeader header, ReadOnlySpan<byte> body) =>
        header.Kind != RecordKind.Chunk || LegacySegmentRecord.PayloadMatches(header, body);
}
