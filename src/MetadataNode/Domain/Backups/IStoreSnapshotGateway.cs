namespace Dropbox.MetadataNode.Domain.Backups;

/// <summary>What an online backup asks of a storage node: a snapshot of its chunk store under its own backup folder, and its removal.</summary>
internal interface IStoreSnapshotGateway
{
    /// <summary>
    /// Asks <paramref name="node"/> to snapshot its store as part of backup <paramref name="backupName"/>, waiting at most
    /// <paramref name="holdWait"/> for compaction or scrub to let go of its segments; the copy is bounded only by
    /// <paramref name="cancellationToken"/>, which the node also sees (it stops its copy).
    /// </summary>
    Task<NodeSnapshot> SnapshotAsync(StorageNodeInfo node, string backupName, TimeSpan holdWait, CancellationToken cancellationToken);

    /// <summary>Asks <paramref name="node"/> to remove its part of backup <paramref name="backupName"/>; false if it held none.</summary>
    Task<bool> DeleteSnapshotAsync(StorageNodeInfo node, string backupName, CancellationToken cancellationToken);
}
