using System.Runtime.InteropServices;
using Dropbox.Shared.Chunks;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// Where a chunk's record rests: the FASTER value. Fixed-size and blittable; <see cref="Offset"/> is the start of
/// the record header within the segment file.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct ChunkLocation : IEquatable<ChunkLocation>
{
    /// <summary>Offset of the record header in the segment file.</summary>
    public long Offset;

    /// <summary>Segment file number.</summary>
    public int Segment;

    /// <summary>Bytes of payload as stored (after any compression).</summary>
    public int StoredLength;

    /// <summary>Bytes of the plain chunk.</summary>
    public int PlainLength;

    /// <summary>Encoding of the stored payload.</summary>
    public ChunkEncoding Encoding;

    private readonly byte _reserved1;
    private readonly short _reserved2;

    /// <summary>Creates a location.</summary>
    public ChunkLocation(int segment, long offset, int storedLength, int plainLength, ChunkEncoding encoding)
    {
        Segment = segment;
        Offset = offset;
        StoredLength = storedLength;
        PlainLength = plainLength;
        Encoding = encoding;
        _reserved1 = 0;
        _reserved2 = 0;
    }

    /// <summary>Total bytes the record takes in its segment (header and payload).</summary>
    public readonly long RecordLength => SegmentRecord.HeaderSize + StoredLength;

    /// <inheritdoc />
    public readonly bool Equals(ChunkLocation other) =>
        Segment == other.Segment && Offset == other.Offset && StoredLength == other.StoredLength;

    /// <inheritdoc />
    public override readonly bool Equals(object? obj) => obj is ChunkLocation other && Equals(other);

    /// <inheritdoc />
    public override readonly int GetHashCode() => HashCode.Combine(Segment, Offset);

    /// <inheritdoc />
    public override readonly string ToString() => $"segment {Segment} offset {Offset} ({StoredLength} bytes, {Encoding})";

    /// <summary>Equality.</summary>
    public static bool operator ==(ChunkLocation left, ChunkLocation right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(ChunkLocation left, ChunkLocation right) => !left.Equals(right);
}
