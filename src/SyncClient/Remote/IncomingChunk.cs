using Dropbox.Shared.Chunks;

namespace Dropbox.SyncClient.Remote;

/// <summary>A chunk as a storage node sent it (not yet decoded or verified). Owns its pooled bytes: dispose it.</summary>
/// <param name="Id">The id the node sent.</param>
/// <param name="Encoding">How <paramref name="Stored"/> is encoded.</param>
/// <param name="PlainSize">Plain size the node declared.</param>
/// <param name="Stored">The bytes as they travelled.</param>
internal sealed record IncomingChunk(ChunkId Id, ChunkEncoding Encoding, int PlainSize, ChunkBuffer Stored) : IDisposable
{
    /// <inheritdoc />
    public void Dispose() => Stored.Dispose();
}
