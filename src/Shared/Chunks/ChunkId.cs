using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Dropbox.Shared.Chunks;

/// <summary>
/// SHA-256 of a chunk's plain bytes: the chunk's name everywhere (dedup, resume, integrity).
/// A 32-byte value type; formats as 64 lowercase hex digits.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct ChunkId : IEquatable<ChunkId>, IComparable<ChunkId>
{
    /// <summary>Size of the id in bytes.</summary>
    public const int Size = 32;

    /// <summary>Length of the hex form.</summary>
    public const int HexLength = 64;

    private readonly ulong _a, _b, _c, _d;

    private ChunkId(ulong a, ulong b, ulong c, ulong d)
    {
        _a = a; _b = b; _c = c; _d = d;
    }

    /// <summary>Reads an id from exactly 32 bytes.</summary>
    public ChunkId(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Size)
        {
            ThrowWrongLength(bytes.Length);
        }

        _a = BinaryPrimitives.ReadUInt64BigEndian(bytes);
        _b = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
        _c = BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]);
        _d = BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]);
    }

    /// <summary>True for the all-zero id, which no real chunk has in practice.</summary>
    public bool IsEmpty => (_a | _b | _c | _d) == 0;

    /// <summary>Hashes plain bytes into their id.</summary>
    public static ChunkId Compute(ReadOnlySpan<byte> plain)
    {
        Span<byte> hash = stackalloc byte[Size];
        SHA256.HashData(plain, hash);
        return new ChunkId(hash);
    }

    /// <summary>Writes the 32 bytes into <paramref name="destination"/>.</summary>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            ThrowWrongLength(destination.Length);
        }

        BinaryPrimitives.WriteUInt64BigEndian(destination, _a);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _b);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _c);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _d);
    }

    /// <summary>The 32 bytes as a new array.</summary>
    public byte[] ToArray()
    {
        var bytes = new byte[Size];
        WriteTo(bytes);
        return bytes;
    }

    /// <summary>Parses 64 hex digits (either case).</summary>
    public static ChunkId Parse(ReadOnlySpan<char> hex)
    {
        if (!TryParse(hex, out var id))
        {
            throw new FormatException($"A chunk id is 64 hex digits (SHA-256); got {hex.Length} characters: '{Truncate(hex)}'.");
        }

        return id;
    }

    /// <summary>Parses 64 hex digits (either case) without throwing.</summary>
    public static bool TryParse(ReadOnlySpan<char> hex, out ChunkId id)
    {
        id = default;
        if (hex.Length != HexLength)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[Size];
        if (Convert.FromHexString(hex, bytes, out _, out var written) != System.Buffers.OperationStatus.Done || written != Size)
        {
            return false;
        }

        id = new ChunkId(bytes);
        return true;
    }

    /// <summary>Reads an id from a protobuf/bytes field; false unless exactly 32 bytes.</summary>
    public static bool TryRead(ReadOnlySpan<byte> bytes, out ChunkId id)
    {
        if (bytes.Length != Size)
        {
            id = default;
            return false;
        }

        id = new ChunkId(bytes);
        return true;
    }

    /// <summary>64 lowercase hex digits.</summary>
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Size];
        WriteTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    /// <summary>Writes the 64 hex digits without allocating.</summary>
    public bool TryFormat(Span<char> destination, out int charsWritten)
    {
        Span<byte> bytes = stackalloc byte[Size];
        WriteTo(bytes);
        return Convert.TryToHexStringLower(bytes, destination, out charsWritten);
    }

    /// <summary>The first 12 hex digits, for logs and messages.</summary>
    public string ToShortString() => ToString()[..12];

    /// <inheritdoc />
    public bool Equals(ChunkId other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is ChunkId other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => unchecked((int)_a ^ (int)(_a >> 32));

    /// <summary>Orders ids as their bytes order.</summary>
    public int CompareTo(ChunkId other)
    {
        var c = _a.CompareTo(other._a);
        if (c != 0) return c;
        c = _b.CompareTo(other._b);
        if (c != 0) return c;
        c = _c.CompareTo(other._c);
        return c != 0 ? c : _d.CompareTo(other._d);
    }

    /// <summary>A 64-bit prefix, handy as a hash-table key.</summary>
    public ulong Prefix64 => _a;

    public static bool operator ==(ChunkId left, ChunkId right) => left.Equals(right);

    public static bool operator !=(ChunkId left, ChunkId right) => !left.Equals(right);

    private static string Truncate(ReadOnlySpan<char> s) => s.Length <= 80 ? s.ToString() : string.Concat(s[..77], "...");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowWrongLength(int length) =>
        throw new ArgumentException($"A chunk id is {Size} bytes (SHA-256); got {length}.");
}
