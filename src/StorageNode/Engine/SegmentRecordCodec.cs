using Dropbox.StorageNode.Engine.Durable;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// Segment records as a durable-log record type, so recovery walks them with the log's own frame checks
/// (<see cref="LogFrameFormat{T}"/>: a newer frame or body version, or another record type, is a clear error). The
/// record read is the fields (<see cref="RecordHeader"/>); the payload stays where it is in the segment. The engine's
/// writer writes the frame itself (<see cref="SegmentRecord.WriteHeader"/>) so the payload is never copied.
/// </summary>
internal sealed class SegmentRecordCodec : ILogRecordCodec<RecordHeader>
{
    public static SegmentRecordCodec Instance { get; } = new();

    public byte RecordType => SegmentRecord.RecordType;

    public byte Version => SegmentRecord.BodyVersion;

    public string Name => "segment";

    /// <summary>The fields only: a record written through the log is a tombstone (no payload).</summary>
    public int GetSize(RecordHeader record) => SegmentRecord.FieldsSize;

    public void Write(RecordHeader record, Span<byte> body)
    {
        body = body[..SegmentRecord.FieldsSize];
        body.Clear();
        body[0] = (byte)record.Kind;
        body[1] = (byte)record.Encoding;
        record.Id.WriteTo(body[4..]);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(body[36..], record.PlainLength);
    }

    public RecordHeader Read(byte version, ReadOnlySpan<byte> body) =>
        version == SegmentRecord.BodyVersion && SegmentRecord.TryReadFields(new FrameHeader(body.Length, LogFrame.FrameVersion, RecordType, version, 0), body, out var parsed)
            ? parsed
            : throw new LogFormatException($"A segment record of version {version} has fields this build cannot read ({body.Length} bytes).");
}
