namespace Dropbox.MetadataNode.Domain.Backups;

/// <summary>
/// What an online backup wrote: its name, the metadata checkpoint and key ring copy (on the metadata node's machine),
/// each live storage node's snapshot, and the registered nodes left out (not live: their chunks are in the backup
/// only where another replica held them). Complete when every live node's snapshot succeeded.
/// </summary>
internal sealed record BackupReport(string Name, string MetadataPath, string KeysPath, IReadOnlyList<NodeSnapshot> Nodes, IReadOnlyList<string> SkippedNodes)
{
    /// <summary>True if every live storage node wrote its snapshot.</summary>
    public bool Complete => Nodes.All(n => n.Error is null);
}
