using System.Buffers.Binary;
using System.IO.Hashing;

namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>
/// The frame every durable-log record is written in: a 24-byte header, then the body.
/// <c>magic u32 | body length u32 | frame version u8 | record type u8 | body version u8 | reserved u8 |
/// xxhash3(body) u64 | xxhash3(header[0..20]) low u32</c>, little-endian. The header hash makes a torn or rotten
/// header detectable before its length is trusted; the body hash catches a torn or rotten body.
/// </summary>
internal static class LogFrame
{
    /// <summary>Header bytes before the body.</summary>
    public const int HeaderSize = 24;

    /// <summary>The frame layout this build writes and the newest it reads.</summary>
    public const byte FrameVersion = 1;

    /// <summary>First four bytes of every frame (0xDB first: never ASCII, so never one of the older text files).</summary>
    public const uint Magic = 0x314C47DB;

    /// <summary>Largest body accepted (a length above it is a rotten header, not a record).</summary>
    public const int MaxBody = 64 << 20;

    /// <summary>True if <paramref name="bytes"/> starts with a frame's magic (tells a framed file from a legacy one).</summary>
    public static bool StartsWithMagic(ReadOnlySpan<byte> bytes) =>
        bytes.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(bytes) == Magic;

    /// <summary>Writes the header for <paramref name="body"/> (already in place after it).</summary>
    public static void WriteHeader(Span<byte> header, byte recordType, byte bodyVersion, ReadOnlySpan<byte> body) =>
        WriteHeader(header, recordType, bodyVersion, body.Length, XxHash3.HashToUInt64(body));

    /// <summary>
    /// Writes the header for a body of <paramref name="bodyLength"/> bytes whose xxhash3 is <paramref name="bodyHash"/>
    /// (for a body not in one piece in memory, hashed as it is gathered: a segment record's fields and its payload).
    /// </summary>
    public static void WriteHeader(Span<byte> header, byte recordType, byte bodyVersion, int bodyLength, ulong bodyHash)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)bodyLength);
        header[8] = FrameVersion;
        header[9] = recordType;
        header[10] = bodyVersion;
        header[11] = 0;
        BinaryPrimitives.WriteUInt64LittleEndian(header[12..], bodyHash);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], (uint)XxHash3.HashToUInt64(header[..20]));
    }

    /// <summary>Parses a header; false if it is short, not a frame, or its hash does not match (torn or rotten).</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> header, out FrameHeader parsed)
    {
        parsed = default;
        if (header.Length < HeaderSize
            || BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic
            || BinaryPrimitives.ReadUInt32LittleEndian(header[20..]) != (uint)XxHash3.HashToUInt64(header[..20]))
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (length > MaxBody)
        {
            return false;
        }

        parsed = new FrameHeader((int)length, header[8], header[9], header[10], BinaryPrimitives.ReadUInt64LittleEndian(header[12..]));
        return true;
    }

    /// <summary>True if the body's hash is the one the header carries.</summary>
    public static bool BodyMatches(in FrameHeader header, ReadOnlySpan<byte> body) =>
        body.Length == header.BodyLength && XxHash3.HashToUInt64(body) == header.BodyHash;
}
