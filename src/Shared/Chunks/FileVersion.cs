using System.Security.Cryptography;

namespace Dropbox.Shared.Chunks;

/// <summary>A file's content as an ordered list of chunks.</summary>
public sealed class FileVersion
{
    /// <summary>Creates a version over the given chunks, in file order.</summary>
    public FileVersion(IReadOnlyList<ChunkRef> chunks)
    {
        Chunks = chunks;
        long size = 0;
        foreach (var c in chunks)
        {
            size += c.Size;
        }

        Size = size;
    }

    /// <summary>The chunks in file order.</summary>
    public IReadOnlyList<ChunkRef> Chunks { get; }

    /// <summary>Plain size of the whole file.</summary>
    public long Size { get; }

    /// <summary>SHA-256 over the concatenated chunk ids: equal contents give equal hashes.</summary>
    public byte[] ContentHash() => ComputeContentHash(Chunks.Select(c => c.Id));

    /// <summary>SHA-256 over the concatenated ids, in order.</summary>
    public static byte[] ComputeContentHash(IEnumerable<ChunkId> ids)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> buffer = stackalloc byte[ChunkId.Size];
        foreach (var id in ids)
        {
            id.WriteTo(buffer);
            hash.AppendData(buffer);
        }

        return hash.GetHashAndReset();
    }
}
