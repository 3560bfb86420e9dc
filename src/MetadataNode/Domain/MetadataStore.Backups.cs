namespace Dropbox.MetadataNode.Domain;

internal sealed partial class MetadataStore
{
    /// <summary>Holds garbage collection's chunk deletes off during an online backup.</summary>
    internal Backups.DeletionHold ChunkDeletions => _gc.Deletions;
}
