using Dropbox.Shared.IO;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// The real barrier. Files: one <c>syncfs</c> of the folder's file system when <see cref="UseFileSystemSync"/> (Linux;
/// elsewhere the per-file way), else an fsync of each file, several at once so the file system's journal commits
/// them together. Directories: one fsync each (<see cref="DirectorySync"/>), several at once.
/// </summary>
internal sealed class DurabilityBarrier : IDurabilityBarrier
{
    /// <summary>fsyncs in flight at once: enough for the journal to group them, few enough to leave threads to the rest.</summary>
    public const int Concurrency = 8;

    /// <summary>The barrier with the default file flush (see <see cref="UseFileSystemSync"/>).</summary>
    public static DurabilityBarrier Default { get; } = new(useFileSystemSync: false);

    public DurabilityBarrier(bool useFileSystemSync) => UseFileSystemSync = useFileSystemSync;

    /// <summary>One syncfs for all files (true) or one fsync each (false).</summary>
    public bool UseFileSystemSync { get; }

    /// <inheritdoc />
    public void FlushFiles(string folder, IReadOnlyList<SafeFileHandle> files)
    {
        if (files.Count == 0)
        {
            return;
        }

        if (UseFileSystemSync && DirectorySync.SyncFileSystem(folder))
        {
            return;
        }

        if (files.Count == 1)
        {
            RandomAccess.FlushToDisk(files[0]);
            return;
        }

        Parallel.For(0, files.Count, new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, i => RandomAccess.FlushToDisk(files[i]));
    }

    /// <inheritdoc />
    public void FlushDirectories(IReadOnlyCollection<string> directories)
    {
        if (directories.Count <= 1)
        {
            foreach (var directory in directories)
            {
                DirectorySync.Flush(directory);
            }

            return;
        }

        Parallel.ForEach(directories, new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, DirectorySync.Flush);
    }
}
