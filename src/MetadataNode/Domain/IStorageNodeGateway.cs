using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>What the metadata node asks of storage nodes: existence checks and deletes.</summary>
internal interface IStorageNodeGateway
{
    /// <summary>For each id, whether <paramref name="node"/> holds it (same order).</summary>
    Task<bool[]> HasChunksAsync(StorageNodeInfo node, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken);

    /// <summary>Asks <paramref name="node"/> to delete the chunks; returns how many it deleted.</summary>
    Task<int> DeleteChunksAsync(StorageNodeInfo node, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken);
}
