using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.MetadataNode.Storage;

/// <summary>The current state of one path as the store works with it; kept on disk as a <c>StoredFile</c>.</summary>
internal sealed class FileRecord
{
    /// <summary>The newest version (a tombstone when deleted).</summary>
    public FileEntry Current { get; set; } = new();

    /// <summary>Retained versions of this path (tombstones included).</summary>
    public uint VersionCount { get; set; }
}
