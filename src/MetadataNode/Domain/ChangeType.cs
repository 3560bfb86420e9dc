namespace Dropbox.MetadataNode.Domain;

/// <summary>What a change in a namespace's log did.</summary>
internal enum ChangeType
{
    /// <summary>A file version was committed or restored.</summary>
    Upsert = 0,

    /// <summary>A path was deleted (its entry is the tombstone).</summary>
    Delete = 1,

    /// <summary>A path was moved: the entry is at the new path, <see cref="ChangeEntry.OldPath"/> names the old one.</summary>
    Move = 2,

    /// <summary>A folder was created.</summary>
    Folder = 3,
}
