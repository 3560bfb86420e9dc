using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine.Durable;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// A segment record (segment format 2) is a durable-log frame (<see cref="LogFrame"/>: magic, length, frame version,
/// record type <see cref="RecordType"/>, body version, body hash, header hash) whose body is the record's fields then
/// the chunk's stored bytes:
/// <c>kind u8 | encoding u8 | reserved u16 | chunk id [32] | plain length i32 | payload</c>, little-endian.
/// The frame header and the fields take <see cref="HeaderSize"/> bytes, as format 1's header did, so a location's
/// payload is at the same place in either format. One xxhash3 covers fields and payload: no more hashing than
/// format 1, and the frame's version bytes say how to read every record.
/// </summary>
internal static class SegmentRecord
{
    /// <summary>Frame header plus the record's fields: where the payload starts.</summary>
    public const int HeaderSize = LogFrame.HeaderSize + FieldsSize;

    /// <summary>The fields before the payload in the body.</summary>
    public const int FieldsSize = 40;

    /// <summary>Largest payload a record holds: a frame body (fields, then payload) above <see cref="LogFrame.MaxBody"/> would read back as a rotten header.</summary>
    public const int MaxPayload = LogFrame.MaxBody - FieldsSize;

    /// <summary>The frame's record type for segment records (positions 1, outbox 2 and 3).</summary>
    public const byte RecordType = 4;

    /// <summary>The body version this build writes and the newest it reads.</summary>
    public const byte BodyVersion = 1;

    /// <summary>
    /// Writes the frame header and fields for <paramref name="payload"/> (elsewhere in memory, appended after it);
    /// <paramref name="hasher"/> is reset and reused. <see cref="WriteInPlace"/> writes the same bytes.
    /// </summary>
    public static void WriteHeader(Span<byte> header, XxHash3 hasher, RecordKind kind, ChunkId id, ChunkEncoding encoding, int plainLength, ReadOnlySpan<byte> payload)
    {
        header = header[..HeaderSize];
        var fields = header[LogFrame.HeaderSize..];
        WriteFields(fields, kind, id, encoding, plainLength);

        hasher.Reset();
        hasher.Append(fields);
        hasher.Append(payload);
        LogFrame.WriteHeader(header, RecordType, BodyVersion, FieldsSize + payload.Length, hasher.GetCurrentHashAsUInt64());
    }

    /// <summary><see cref="WriteHeader(Span{byte}, XxHash3, RecordKind, ChunkId, ChunkEncoding, int, ReadOnlySpan{byte})"/> for a payload in pieces.</summary>
    public static void WriteHeader(Span<byte> header, XxHash3 hasher, RecordKind kind, ChunkId id, ChunkEncoding encoding, int plainLength, in ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
        {
            WriteHeader(header, hasher, kind, id, encoding, plainLength, payload.FirstSpan);
            return;
        }

        header = header[..HeaderSize];
        var fields = header[LogFrame.HeaderSize..];
        WriteFields(fields, kind, id, encoding, plainLength);

        hasher.Reset();
        hasher.Append(fields);
        foreach (var piece in payload)
        {
            hasher.Append(piece.Span);
        }

        LogFrame.WriteHeader(header, RecordType, BodyVersion, FieldsSize + checked((int)payload.Length), hasher.GetCurrentHashAsUInt64());
    }

    /// <summary>
    /// Writes the frame header and fields of <paramref name="record"/>, whose payload is already in place after
    /// <see cref="HeaderSize"/> bytes: the same bytes as <see cref="WriteHeader"/>, but the body is hashed in one
    /// piece. (The streaming hasher's code is cold for many calls in a tiered runtime: a put of 1 MiB chunks then
    /// spent ~15% of the node's CPU in its unoptimized code; the one-shot hash leaves it within a call.)
    /// </summary>
    public static void WriteInPlace(Span<byte> record, RecordKind kind, ChunkId id, ChunkEncoding encoding, int plainLength)
    {
        WriteFields(record.Slice(LogFrame.HeaderSize, FieldsSize), kind, id, encoding, plainLength);
        LogFrame.WriteHeader(record, RecordType, BodyVersion, record[LogFrame.HeaderSize..]);
    }

    /// <summary>Copies <paramref name="payload"/> into <paramref name="record"/> after the header, then writes the header (<see cref="WriteInPlace(Span{byte}, RecordKind, ChunkId, ChunkEncoding, int)"/>).</summary>
    public static void WriteInPlace(Span<byte> record, RecordKind kind, ChunkId id, ChunkEncoding encoding, int plainLength, in ReadOnlySequence<byte> payload)
    {
        payload.CopyTo(record[HeaderSize..]);
        WriteInPlace(record, kind, id, encoding, plainLength);
    }

    private static void WriteFields(Span<byte> fields, RecordKind kind, ChunkId id, ChunkEncoding encoding, int plainLength)
    {
        fields = fields[..FieldsSize];
        fields.Clear();
        fields[0] = (byte)kind;
        fields[1] = (byte)encoding;
        id.WriteTo(fields[4..]);
        BinaryPrimitives.WriteInt32LittleEndian(fields[36..], plainLength);
    }

    /// <summary>
    /// Checks a whole record (header and payload, as read from its location) and parses its fields; false if it is
    /// torn or rotten, or not a segment record this build reads.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> record, out RecordHeader parsed)
    {
        parsed = default;
        return LogFrame.TryReadHeader(record, out var frame)
            && frame.FrameVersion <= LogFrame.FrameVersion
            && frame.RecordType == RecordType
            && frame.BodyVersion <= BodyVersion
            && record.Length >= frame.FrameLength
            && LogFrame.BodyMatches(frame, record.Slice(LogFrame.HeaderSize, frame.BodyLength))
            && TryReadFields(frame, record.Slice(LogFrame.HeaderSize, frame.BodyLength), out parsed);
    }

    /// <summary>Parses the fields of an intact body (its hash already checked); false if they make no sense.</summary>
    public static bool TryReadFields(in FrameHeader frame, ReadOnlySpan<byte> body, out RecordHeader parsed)
    {
        parsed = default;
        if (body.Length < FieldsSize)
        {
            return false;
        }

        var kind = (RecordKind)body[0];
        var encoding = (ChunkEncoding)body[1];
        var plain = BinaryPrimitives.ReadInt32LittleEndian(body[36..]);
        if (kind is not (RecordKind.Chunk or RecordKind.Delete or RecordKind.Quarantine)
            || encoding is not (ChunkEncoding.Raw or ChunkEncoding.Lz4)
            || plain < 0)
        {
            return false;
        }

        parsed = new RecordHeader(kind, new ChunkId(body.Slice(4, ChunkId.Size)), encoding, plain, body.Length - FieldsSize, frame.BodyHash);
        return true;
    }
}
