namespace Dropbox.Shared.Chunks;

/// <summary>A chunk as a file version references it.</summary>
/// <param name="Id">SHA-256 of the plain bytes.</param>
/// <param name="Size">Plain size in bytes.</param>
/// <param name="Encoding">How the bytes rest and travel.</param>
/// <param name="StoredSize">Size at rest/on the wire; equals <paramref name="Size"/> when raw.</param>
public readonly record struct ChunkRef(ChunkId Id, int Size, ChunkEncoding Encoding, int StoredSize)
{
    /// <summary>A raw chunk reference.</summary>
    public static ChunkRef Raw(ChunkId id, int size) => new(id, size, ChunkEncoding.Raw, size);
}
