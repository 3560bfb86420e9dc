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

    /// <summary>
    /// Marks the start of a batch's writes on <paramref name="folder"/>'s file system, before its first temp file is
    /// opened (null: nothing to mark). Given to <see cref="FlushFiles(string, IReadOnlyList{SafeFileHandle}, IDisposable?)"/>,
    /// it lets one file-system sync stand for the batch, as it reports every write-back error since the mark.
    /// </summary>
    IDisposable? Mark(string folder) => null;

    /// <summary>As <see cref="FlushFiles(string, IReadOnlyList{SafeFileHandle})"/>, with the mark taken before the writes.</summary>
    void FlushFiles(string folder, IReadOnlyList<SafeFileHandle> files, IDisposable? mark) => FlushFiles(folder, files);

    /// <summary>Makes the entries (renames) of every directory durable; throws if any may not be.</summary>
    void FlushDirectories(IReadOnlyCollection<string> directories);

    /// <summary>
    /// Makes the entries (renames, new folders) of every open folder durable, an fsync of each as opened (not by path);
    /// returns each one's failure (null: durable), so a folder that fails fails only the files that need it.
    /// </summary>
    IReadOnlyList<Exception?> FlushFolders(IReadOnlyList<FolderHandle> folders) => DurabilityBarrier.FlushEach(folders);
}
