namespace Dropbox.MetadataNode.Domain.Backups;

/// <summary>
/// What an online backup wrote: its name, the metadata checkpoint and key ring copy (on the metadata node's machine),
/// each live storage node's snapshot, and the registered nodes left out (not live: their chunks are in the backup
/// only where another replica held them), and how many referenced chunks have a copy on no snapshotted node.
/// Complete when every live node's snapshot succeeded and every referenced chunk is on one of them.
/// </summary>
internal sealed record BackupReport(string Name, string MetadataPath, string KeysPath, IReadOnlyList<NodeSnapshot> Nodes, IReadOnlyList<string> SkippedNodes, long MissingChunks)
{
    /// <summary>True if every live storage node wrote its snapshot and every chunk the metadata references is in one.</summary>
    public bool Complete => MissingChunks == 0 && Nodes.All(n => n.Error is null);

    /// <summary>Older backups that retention removed (metadata folder and every storage part), oldest first.</summary>
    public IReadOnlyList<string> Removed { get; init; } = [];
}
