using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;

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

    /// <summary>
    /// As <see cref="PutChunksAsync(string, IReadOnlyList{OutgoingChunk}, CancellationToken)"/>, to a node named by its
    /// location (both its URLs), so a transfer may pick the cheaper protocol. By default, over the gRPC URL.
    /// </summary>
    Task PutChunksAsync(ChunkLocation node, IReadOnlyList<OutgoingChunk> chunks, CancellationToken ct) => PutChunksAsync(node.GrpcUrl, chunks, ct);

    /// <summary>
    /// As <see cref="GetChunksAsync(string, IReadOnlyList{ChunkId}, string, CancellationToken)"/>, from a node named by
    /// its location (both its URLs), so a transfer may pick the cheaper protocol. By default, over the gRPC URL.
    /// </summary>
    Task<IReadOnlyList<IncomingChunk>> GetChunksAsync(ChunkLocation node, IReadOnlyList<ChunkId> ids, string token, CancellationToken ct) =>
        GetChunksAsync(node.GrpcUrl, ids, token, ct);
}
