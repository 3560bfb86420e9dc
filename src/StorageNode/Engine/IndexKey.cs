using System.Runtime.InteropServices;
using Dropbox.Shared.Chunks;

namespace Dropbox.StorageNode.Engine;

/// <summary>The FASTER key: a chunk id as four blittable words, so FASTER keeps keys inline and fixed-size.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct IndexKey
{
    public ulong A;
    public ulong B;
    public ulong C;
    public ulong D;

    public static IndexKey From(ChunkId id)
    {
        Span<byte> bytes = stackalloc byte[ChunkId.Size];
        id.WriteTo(bytes);
        return MemoryMarshal.Read<IndexKey>(bytes);
    }

    public readonly ChunkId ToChunkId()
    {
        Span<byte> bytes = stackalloc byte[ChunkId.Size];
        var copy = this;
        MemoryMarshal.Write(bytes, in copy);
        return new ChunkId(bytes);
    }
}
