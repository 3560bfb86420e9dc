using Dropbox.MetadataNode.Storage.Records;

namespace Dropbox.MetadataNode.Domain.Backups;

/// <summary>What an online backup asks of a storage node: a snapshot of its chunk store under its own backup folder.</summary>
internal interface IStoreSnapshotGateway
{
    /// <summary>Asks <paramref name="node"/> to snapshot its store as part of backup <paramref name="backupName"/>.</summary>
    Task<NodeSnapshot> SnapshotAsync(NodeRecord node, string backupName, CancellationToken cancellationToken);
}
