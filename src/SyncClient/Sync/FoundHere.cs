namespace Dropbox.SyncClient.Sync;

/// <summary>
/// What is at a synced path here now, against its synced stamp: a fact about a leftover's neighbour
/// (<see cref="DisplacedCandidate"/>), read as the scan's unchanged test reads a file.
/// </summary>
internal enum FoundHere
{
    /// <summary>Nothing at all at the path (no file, folder or link).</summary>
    Nothing,

    /// <summary>A file with its synced size and mtime, its ctime not moved from a known one.</summary>
    AsSynced,

    /// <summary>A file that is no longer as synced: its size, its mtime or a known ctime moved.</summary>
    Changed,

    /// <summary>Something that is not a file (a folder).</summary>
    NotAFile,
}
