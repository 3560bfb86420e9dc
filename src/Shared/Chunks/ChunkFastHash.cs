using System.IO.Hashing;

namespace Dropbox.Shared.Chunks;

/// <summary>
/// A fast non-cryptographic 128-bit hash of a chunk's plain bytes (XXH3-128): never a chunk's name, only a way for a
/// client to recognise a chunk of its own synced file again without SHA-256 (see <see cref="Pipeline.KnownChunks"/>).
/// An accidental collision is about 2^-128; a crafted one is possible, so nothing that another party supplies is ever
/// identified by it.
/// </summary>
public static class ChunkFastHash
{
    /// <summary>Size of the hash in bytes.</summary>
    public const int Size = 16;

    /// <summary>Hashes plain bytes.</summary>
    public static UInt128 Compute(ReadOnlySpan<byte> plain) => XxHash128.HashToUInt128(plain);
}
