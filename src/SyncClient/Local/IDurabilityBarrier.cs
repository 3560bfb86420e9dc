using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// The durability barrier of a batch of downloads: first the bytes of every temp file (before any is renamed into
/// place), then the folders that the renames touched (before any is recorded in the local db). A seam so that tests
/// can check the order; <see cref="DurabilityBarrier"/> is the real one.
/// </summary>
internal interface IDurabilityBarrier
{
    /// <summary>Makes the written bytes (and size and times) of every file durable; throws if any may not be.</summary>
    /// <param name="folder">The sync folder (its file system holds every file).</param>
    /// <param name="files">Open handles of the temp files.</param>
    void FlushFiles(string folder, IReadOnlyList<SafeFileHandle> files);

    /// <summary>Makes the entries (renames) of every directory durable; throws if any may not be.</summary>
    void FlushDirectories(IReadOnlyCollection<string> directories);
}
