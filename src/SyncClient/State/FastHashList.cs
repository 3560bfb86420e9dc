using System.Buffers.Binary;
using System.IO.Hashing;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Pipeline;

namespace Dropbox.SyncClient.State;

/// <summary>
/// The stored form of a synced file's chunk fast hashes (<see cref="ChunkFastHash"/>, keyed by <see cref="LocalState.FastHash"/>:
/// these tags, like the key, never leave the device, see <see cref="ChunkFastHash"/>), kept in the file's row beside
/// its chunk list (column <c>fast_hashes</c>): a format byte, one 16-byte hash per chunk in the list's order, and an
/// XXH3-64 check over the format byte, the hashes and the row's chunk list blob. A value that does not decode, does not
/// pair up with the chunk list, or fails its check gives no list (no shortcut: the file is hashed as before), so a
/// damaged row can never pair a fast hash with another chunk's id.
/// </summary>
internal static class FastHashList
{
    /// <summary>Files smaller than this keep no list: the SHA-256 it saves on a re-read is not worth a row's bytes.</summary>
    public const long MinFileSize = 16L * 1024 * 1024;

    // 2: tags of the keyed ChunkFastHash. Rows of format 1 (unkeyed XXH3-128, the first build of this list) give no
    // list: they could only miss, but are not worth comparing at all.
    private const byte Format = 2;
    private const int CheckSize = sizeof(ulong);

    /// <summary>The stored value for <paramref name="fastHashes"/>, paired with the row's encoded chunk list.</summary>
    public static byte[] Encode(IReadOnlyList<UInt128> fastHashes, ReadOnlySpan<byte> chunksBlob)
    {
        var value = new byte[1 + (fastHashes.Count * ChunkFastHash.Size) + CheckSize];
        value[0] = Format;
        for (var i = 0; i < fastHashes.Count; i++)
        {
            BinaryPrimitives.WriteUInt128LittleEndian(value.AsSpan(1 + (i * ChunkFastHash.Size)), fastHashes[i]);
        }

        BinaryPrimitives.WriteUInt64LittleEndian(value.AsSpan(value.Length - CheckSize), Check(value.AsSpan(0, value.Length - CheckSize), chunksBlob));
        return value;
    }

    /// <summary>The known chunks of a row, or null when the stored value is absent or not a sound list for <paramref name="chunks"/>.</summary>
    public static KnownChunks? Decode(ChunkFastHash hash, byte[]? value, List<ChunkRef> chunks, ReadOnlySpan<byte> chunksBlob)
    {
        if (value is null || value.Length != 1 + (chunks.Count * ChunkFastHash.Size) + CheckSize || value[0] != Format
            || BinaryPrimitives.ReadUInt64LittleEndian(value.AsSpan(value.Length - CheckSize)) != Check(value.AsSpan(0, value.Length - CheckSize), chunksBlob))
        {
            return null;
        }

        var fast = new UInt128[chunks.Count];
        for (var i = 0; i < fast.Length; i++)
        {
            fast[i] = BinaryPrimitives.ReadUInt128LittleEndian(value.AsSpan(1 + (i * ChunkFastHash.Size)));
        }

        return new KnownChunks(hash, chunks, fast);
    }

    private static ulong Check(ReadOnlySpan<byte> hashes, ReadOnlySpan<byte> chunksBlob)
    {
        var check = new XxHash3();
        check.Append(hashes);
        check.Append(chunksBlob);
        return check.GetCurrentHashAsUInt64();
    }
}
