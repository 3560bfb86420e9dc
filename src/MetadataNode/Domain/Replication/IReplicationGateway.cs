using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain.Replication;

/// <summary>Orders node-to-node copies: the bytes go from source to target, never through the metadata node.</summary>
internal interface IReplicationGateway
{
    /// <summary>
    /// Has <paramref name="source"/> push <paramref name="ids"/> to <paramref name="target"/> (with put tokens for the
    /// target); returns the ids the target acknowledged as durable (the target reports them stored by its events) and the
    /// ids the source could not read.
    /// </summary>
    Task<PushOutcome> PushAsync(StorageNodeInfo source, StorageNodeInfo target, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken);
}
