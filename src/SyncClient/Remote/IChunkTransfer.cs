using Dropbox.Shared.Chunks;

namespace Dropbox.SyncClient.Remote;

/// <summary>Moves chunk bytes to and from storage nodes (never through the metadata node).</summary>
internal interface IChunkTransfer
{
    /// <summary>
    /// Puts the chunks in one call; completes once the node holds them all durably. The node answers the same
    /// whether or not it held a chunk before (else a put would reveal what other users store).
    /// </summary>
    Task PutChunksAsync(string grpcUrl, IReadOnlyList<OutgoingChunk> chunks, CancellationToken ct);

    /// <summary>Fetches chunks covered by one get token, in request order. The caller owns (disposes) every chunk returned.</summary>
    Task<IReadOnlyList<IncomingChunk>> GetChunksAsync(string grpcUrl, IReadOnlyList<ChunkId> ids, string token, CancellationToken ct);
}
