using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Domain;

namespace Dropbox.MetadataNode.Storage;

/// <summary>The current state of one path as the store works with it; kept on disk as a <c>StoredFile</c>.</summary>
internal sealed class FileRecord
{
    /// <summary>The newest version (a tombstone when deleted).</summary>
    public PathEntry Current { get; set; } = new();

    /// <summary>Retained versions of this path (tombstones included).</summary>
    public uint VersionCount { get; set; }

    /// <summary>
    /// The stored message this record was read from, with any fields a later release added: writing the record back
    /// keeps them (<see cref="StoredFormat.WriteFile"/>), so a rollback does not drop what the later release wrote.
    /// </summary>
    public StoredFile? Read { get; init; }
}
