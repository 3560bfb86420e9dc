namespace Dropbox.MetadataNode.Domain.Backups;

/// <summary>One storage node's part of a backup: where it is on that node's machine, its segment files (of which hard links) and bytes; or why it failed.</summary>
internal sealed record NodeSnapshot(string NodeId, string Path, int Segments, int Linked, long Bytes, string? Error = null);
