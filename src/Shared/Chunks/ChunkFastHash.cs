using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Dropbox.Shared.Chunks;

/// <summary>
/// A keyed 128-bit hash of a chunk's plain bytes: the AES-GCM tag of an empty message with the chunk as associated data,
/// under a client's secret key and a fixed nonce, that is GHASH (a universal hash keyed by the device's secret) masked
/// by one AES block. Never a chunk's name, only a way for a client to recognise a chunk of its own synced file again
/// without SHA-256 (see <see cref="Pipeline.KnownChunks"/>).
/// </summary>
/// <remarks>
/// What it trusts: the key (32 random bytes per client state, <c>LocalState</c>) and the tags never leave the device.
/// Then two chunks of the same length collide with probability at most about (chunk length in 16-byte blocks) / 2^128,
/// whoever chose the bytes: an attacker who cannot read the client's state cannot aim at a collision (an unkeyed hash
/// such as XXH3 can be collided with two 8-byte writes, which let a second version of a downloaded file keep the first
/// version's chunk id and never sync). One who can read the state folder already has the user's files and token.
/// The tags must stay private too: with a fixed nonce, two tags of known chunks let whoever sees them solve for the
/// GHASH key and then make collisions at will, so they are kept only in the client's own db, never sent or logged.
/// AES-GCM rather than ChaCha20-Poly1305 (as fast here, about 0.2-0.3 s of CPU per GiB against SHA-256's 0.85):
/// GHASH's bound is about blocks/2^128 where Poly1305's is about blocks/2^106.
/// </remarks>
public sealed class ChunkFastHash
{
    /// <summary>Size of the hash in bytes.</summary>
    public const int Size = 16;

    /// <summary>Size of the secret key in bytes.</summary>
    public const int KeySize = 32;

    // One nonce for every tag: the tag is used as a keyed hash, not to authenticate a message, so nonce reuse only
    // matters in that the tags must stay private (see remarks).
    private static readonly byte[] Nonce = new byte[12];

    private readonly byte[] _key;

    // AesGcm instances are not safe for concurrent use and the pipeline's workers hash in parallel: each call takes an
    // idle instance (at most one per concurrent caller is ever created) instead of paying a key schedule per chunk.
    private readonly ConcurrentBag<AesGcm> _idle = [];

    /// <summary>A hash under <paramref name="key"/> (<see cref="KeySize"/> secret bytes).</summary>
    /// <exception cref="ArgumentException">The key is not <see cref="KeySize"/> bytes.</exception>
    public ChunkFastHash(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"A chunk fast-hash key is {KeySize} bytes, not {key.Length}.", nameof(key));
        }

        _key = key.ToArray();
    }

    /// <summary>A fresh random key.</summary>
    public static byte[] NewKey() => RandomNumberGenerator.GetBytes(KeySize);

    /// <summary>Hashes plain bytes.</summary>
    public UInt128 Compute(ReadOnlySpan<byte> plain)
    {
        if (!_idle.TryTake(out var gcm))
        {
            gcm = new AesGcm(_key, Size);
        }

        Span<byte> tag = stackalloc byte[Size];
        gcm.Encrypt(Nonce, ReadOnlySpan<byte>.Empty, Span<byte>.Empty, tag, plain);
        _idle.Add(gcm);
        return BinaryPrimitives.ReadUInt128LittleEndian(tag);
    }
}
