using Dropbox.Shared.Chunks;

namespace Dropbox.SyncClient.Remote;

/// <summary>Moves chunk bytes to and from storage nodes (never through the metadata node).</summary>
internal interface IChunkTransfer
{
    /// <summary>Puts the chunks in one call; returns, per chunk in order, whether the node already had it.</summary>
    Task<IReadOnlyList<bool>> PutChunksAsync(string grpcUrl, IReadOnlyList<OutgoingChunk> chunks, CancellationToken ct);

    /// <summary>Fetches chunks covered by one get token, in request order. The caller owns (disposes) every chunk returned.</summary>
    Task<IReadOnlyList<IncomingChunk>> GetChunksAsync(string grpcUrl, IReadOnlyList<ChunkId> ids, string token, CancellationToken ct);
}
