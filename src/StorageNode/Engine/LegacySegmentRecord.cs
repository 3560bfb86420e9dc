using System.Buffers.Binary;
using System.IO.Hashing;
using Dropbox.Shared.Chunks;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// The segments' first record format (segment format 1, before they moved onto the durable log's frame; see
/// <see cref="SegmentRecord"/>): still read in place, never written by the engine. A 64-byte header, then the payload:
/// <c>magic u32 | kind u8 | encoding u8 | reserved u16 | chunk id [32] | plain length i32 | stored length i32 |
/// xxhash3(payload) u64 | xxhash3(header[0..56]) u64</c>, little-endian.
/// The header hash catches a torn or rotten header before its lengths are trusted; the payload hash catches
/// a torn or rotten payload without the cost of SHA-256.
/// </summary>
internal static class LegacySegmentRecord
{
    public const int HeaderSize = 64;
    public const uint Magic = 0x43584244; // "DBXC"

    /// <summary>Writes a header (only tests and fixtures write this format now).</summary>
    public static void WriteHeader(Span<byte> header, RecordKind kind, ChunkId id, ChunkEncoding encoding, int plainLength, ReadOnlySpan<byte> payload)
    {
        header = header[..HeaderSize];
        header.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        header[4] = (byte)kind;
        header[5] = (byte)encoding;
        id.WriteTo(header[8..]);
        BinaryPrimitives.WriteInt32LittleEndian(header[40..], plainLength);
        BinaryPrimitives.WriteInt32LittleEndian(header[44..], payload.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(header[48..], XxHash3.HashToUInt64(payload));
        BinaryPrimitives.WriteUInt64LittleEndian(header[56..], XxHash3.HashToUInt64(header[..56]));
    }

    /// <summary>True if <paramref name="bytes"/> starts with this format's magic.</summary>
    public static bool StartsWithMagic(ReadOnlySpan<byte> bytes) =>
        bytes.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(bytes) == Magic;

    /// <summary>Parses a header; false if the magic or header hash is wrong (torn or rotten).</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> header, out RecordHeader parsed)
    {
        parsed = default;
        if (header.Length < HeaderSize || BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic)
        {
            return false;
        }

        if (BinaryPrimitives.ReadUInt64LittleEndian(header[56..]) != XxHash3.HashToUInt64(header[..56]))
        {
            return false;
        }

        var kind = (RecordKind)header[4];
        var encoding = (ChunkEncoding)header[5];
        var plain = BinaryPrimitives.ReadInt32LittleEndian(header[40..]);
        var stored = BinaryPrimitives.ReadInt32LittleEndian(header[44..]);
        if (kind is not (RecordKind.Chunk or RecordKind.Delete or RecordKind.Quarantine)
            || encoding is not (ChunkEncoding.Raw or ChunkEncoding.Lz4)
            || plain < 0 || stored < 0)
        {
            return false;
        }

        parsed = new RecordHeader(kind, new ChunkId(header.Slice(8, ChunkId.Size)), encoding, plain, stored,
            BinaryPrimitives.ReadUInt64LittleEndian(header[48..]));
        return true;
    }

    public static bool PayloadMatches(in RecordHeader header, ReadOnlySpan<byte> payload) =>
        payload.Length == header.StoredLength && XxHash3.HashToUInt64(payload) == header.PayloadHash;
}
