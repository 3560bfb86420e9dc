using Dropbox.Shared.IO;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// The real barrier. Files: for a batch of at least <see cref="FileSystemSyncMinFiles"/> files, one <c>syncfs</c> of the
/// folder's file system (Linux; elsewhere the per-file way); for fewer, an fsync of each, several at once so the file
/// system's journal commits them together. Measured on ext4 (2 cores, batches of 512 files of 1-8 KiB): syncfs took
/// ~12 ms a batch, 8 parallel fsyncs 80-600 ms. syncfs also writes back whatever else is dirty on that file system,
/// which is why a batch of a few (large) files syncs just its own. Directories: one fsync each
/// (<see cref="DirectorySync"/>), several at once.
/// </summary>
internal sealed class DurabilityBarrier : IDurabilityBarrier
{
    /// <summary>fsyncs in flight at once: enough for the journal to group them, few enough to leave threads to the rest.</summary>
    public const int Concurrency = 8;

    /// <summary>Files in a batch from which one syncfs is cheaper than an fsync each.</summary>
    public const int FileSystemSyncMinFiles = 8;

    /// <summary>The barrier with the default file flush (see <see cref="UseFileSystemSync"/>).</summary>
    public static DurabilityBarrier Default { get; } = new(useFileSystemSync: true);

    public DurabilityBarrier(bool useFileSystemSync) => UseFileSystemSync = useFileSystemSync;

    /// <summary>One syncfs for a batch of many files (true) or always one fsync each (false).</summary>
    public bool UseFileSystemSync { get; }

    /// <inheritdoc />
    public void FlushFiles(string folder, IReadOnlyList<SafeFileHandle> files)
    {
        if (files.Count == 0)
        {
            return;
        }

        // syncfs covers the file system of the folder only: not one mounted inside it.
        if (UseFileSystemSync && files.Count >= FileSystemSyncMinFiles && !HasMountInside(folder) && DirectorySync.SyncFileSystem(folder))
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

    /// <summary>
    /// True when some file system is mounted on a folder inside <paramref name="folder"/> (from
    /// /proc/self/mountinfo), or when that cannot be told: then a syncfs of the folder would not cover every file.
    /// </summary>
    internal static bool HasMountInside(string folder)
    {
        if (!OperatingSystem.IsLinux())
        {
            return true;
        }

        string[] lines;
        try
        {
            lines = File.ReadAllLines("/proc/self/mountinfo");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return true;
        }

        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)) + "/";
        foreach (var line in lines)
        {
            // "id parent major:minor root mount-point options ...": the mount point is the fifth field, octal-escaped.
            var fields = line.Split(' ', 6);
            if (fields.Length >= 5 && UnescapeMountPoint(fields[4]) is var mount && mount.Length > root.Length && mount.StartsWith(root, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static string UnescapeMountPoint(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field + "/";
        }

        var sb = new System.Text.StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && field.AsSpan(i + 1, 3).IndexOfAnyExceptInRange('0', '7') < 0)
            {
                sb.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                sb.Append(field[i]);
            }
        }

        return sb.Append('/').ToString();
    }
}
