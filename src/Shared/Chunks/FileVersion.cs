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

    /// <summary>
    /// SHA-256 over the concatenated ids, in order. Up to <see cref="OneShotIds"/> ids (every small file, most large ones)
    /// are gathered on the stack and hashed in one call; an incremental hash (a native context and a finalizable handle
    /// per file: profiled, the larger part of this method's cost over 10,000 small files) is made only for more.
    /// </summary>
    public static byte[] ComputeContentHash(IEnumerable<ChunkId> ids)
    {
        Span<byte> gathered = stackalloc byte[OneShotIds * ChunkId.Size];
        var used = 0;
        IncrementalHash? hash = null;
        try
        {
            foreach (var id in ids)
            {
                if (used == gathered.Length)
                {
                    hash ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    hash.AppendData(gathered);
                    used = 0;
                }

                id.WriteTo(gathered[used..]);
                used += ChunkId.Size;
            }

            if (hash is null)
            {
                return SHA256.HashData(gathered[..used]);
            }

            hash.AppendData(gathered[..used]);
            return hash.GetHashAndReset();
        }
        finally
        {
            hash?.Dispose();
        }
    }

    /// <summary>Most ids <see cref="ComputeContentHash"/> hashes in one call (1 KiB of stack).</summary>
    public const int OneShotIds = 32;
}
