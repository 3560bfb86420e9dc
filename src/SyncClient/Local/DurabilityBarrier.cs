using Dropbox.Shared.IO;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// The real barrier. Files: for a batch of at least <see cref="FileSystemSyncMinFiles"/> files, one <c>syncfs</c> of the
/// folder's file system (Linux, on a file system of <see cref="FileSystemSyncTypes"/> with nothing mounted inside the
/// folder; elsewhere the per-file way). On Linux 5.8 and later that syncfs goes through a mark opened before the batch's
/// first write (<see cref="Mark"/>), so it reports every write-back error since then and stands alone. Otherwise (no mark,
/// an older kernel) an fsync of each handle follows it, because syncfs may not report a write-back error (never before
/// 5.8; since then not one that happened before its handle was opened); measured, those fsyncs of already clean files
/// cost 2-4 s of CPU for 10,000 files. For fewer files, an fsync of each, several at once so the file system's journal
/// commits them together.
/// Measured on ext4 (2 cores, batches of 512 files of 1-8 KiB): syncfs took ~12 ms a batch, 8 parallel fsyncs
/// 80-600 ms. syncfs also writes back whatever else is dirty on that file system, which is why a batch of a few
/// (large) files syncs just its own. Directories: one fsync each (<see cref="DirectorySync"/>), several at once; a
/// batch's open folders the same way, through their handles (<see cref="FlushFolders"/>).
/// Failures are thrown as one <see cref="IOException"/> (not the <see cref="AggregateException"/> of the parallel loop).
/// </summary>
internal sealed class DurabilityBarrier : IDurabilityBarrier
{
    /// <summary>fsyncs in flight at once: enough for the journal to group them, few enough to leave threads to the rest.</summary>
    public const int Concurrency = 8;

    /// <summary>Files in a batch from which one syncfs is cheaper than an fsync each.</summary>
    public const int FileSystemSyncMinFiles = 8;

    /// <summary>
    /// File systems whose syncfs is known to make data durable. Not FUSE ones (sshfs, mergerfs, rclone, gocryptfs: their
    /// syncfs does not reach the backing store) nor network ones: those get an fsync per file.
    /// </summary>
    public static readonly IReadOnlySet<string> FileSystemSyncTypes = new HashSet<string>(StringComparer.Ordinal) { "ext4", "ext3", "ext2", "xfs", "btrfs", "f2fs", "tmpfs" };

    private readonly Func<string?> _readMountInfo;
    private readonly Func<string, bool> _syncFileSystem;
    private readonly Action<SafeFileHandle> _flushFile;
    private readonly Action<SafeFileHandle, string> _syncMark;
    private readonly bool _syncReportsErrors;

    /// <summary>The barrier with the default file flush (see <see cref="UseFileSystemSync"/>).</summary>
    public static DurabilityBarrier Default { get; } = new(useFileSystemSync: true);

    public DurabilityBarrier(bool useFileSystemSync)
        : this(useFileSystemSync, ReadMountInfo, DirectorySync.SyncFileSystem, RandomAccess.FlushToDisk)
    {
    }

    /// <summary>A barrier with its system calls replaced (tests): the mountinfo text (null: unreadable), syncfs, fsync.</summary>
    internal DurabilityBarrier(bool useFileSystemSync, Func<string?> readMountInfo, Func<string, bool> syncFileSystem, Action<SafeFileHandle> flushFile)
        : this(useFileSystemSync, readMountInfo, syncFileSystem, flushFile, DirectorySync.SyncFileSystem, DirectorySync.FileSystemSyncReportsErrors)
    {
    }

    /// <summary>As above, with the syncfs through a mark, and whether syncfs reports write-back errors, replaced too.</summary>
    internal DurabilityBarrier(bool useFileSystemSync, Func<string?> readMountInfo, Func<string, bool> syncFileSystem, Action<SafeFileHandle> flushFile, Action<SafeFileHandle, string> syncMark, bool syncReportsErrors)
    {
        UseFileSystemSync = useFileSystemSync;
        _readMountInfo = readMountInfo;
        _syncFileSystem = syncFileSystem;
        _flushFile = flushFile;
        _syncMark = syncMark;
        _syncReportsErrors = syncReportsErrors;
    }

    /// <summary>One syncfs for a batch of many files (true) or always one fsync each (false).</summary>
    public bool UseFileSystemSync { get; }

    /// <inheritdoc />
    public void FlushFiles(string folder, IReadOnlyList<SafeFileHandle> files)
    {
        if (files.Count == 0)
        {
            return;
        }

        if (files.Count == 1)
        {
            _flushFile(files[0]);
            return;
        }

        // syncfs covers the file system of the folder only (not one mounted inside it), and only some file systems
        // make data durable on it. After it, each handle's fsync finds clean pages but reports that file's own error.
        if (UseFileSystemSync && files.Count >= FileSystemSyncMinFiles && CanSyncFileSystem(folder))
        {
            _ = _syncFileSystem(folder);
        }

        InParallel(() => Parallel.For(0, files.Count, new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, i => _flushFile(files[i])));
    }

    /// <inheritdoc />
    public IDisposable? Mark(string folder)
    {
        if (!UseFileSystemSync || !_syncReportsErrors || !CanSyncFileSystem(folder))
        {
            return null;
        }

        try
        {
            return DirectorySync.OpenFileSystemMark(folder) is { } handle ? new FileSystemMark(handle) : null;
        }
        catch (IOException)
        {
            return null; // the batch is then synced file by file after the syncfs
        }
    }

    /// <inheritdoc />
    public void FlushFiles(string folder, IReadOnlyList<SafeFileHandle> files, IDisposable? mark)
    {
        // The mark was opened before the first of these files was: a syncfs through it reports any write-back error of
        // theirs, so no fsync of each is needed after it.
        // What made syncfs enough when the mark was taken (the folder's real path, its file system, nothing mounted
        // inside) is checked again: the folder may have been re-pointed or a mount added while the batch was written.
        if (mark is FileSystemMark { Handle: { } handle } && _syncReportsErrors && files.Count >= FileSystemSyncMinFiles && CanSyncFileSystem(folder))
        {
            _syncMark(handle, folder);
            return;
        }

        FlushFiles(folder, files);
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

        InParallel(() => Parallel.ForEach(directories, new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, DirectorySync.Flush));
    }

    /// <inheritdoc />
    public IReadOnlyList<Exception?> FlushFolders(IReadOnlyList<FolderHandle> folders) => FlushEach(folders);

    /// <summary>An fsync of each open folder, several at once; each one's failure (null: synced).</summary>
    internal static IReadOnlyList<Exception?> FlushEach(IReadOnlyList<FolderHandle> folders)
    {
        var failures = new Exception?[folders.Count];
        Parallel.For(0, folders.Count, new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, i =>
        {
            try
            {
                folders[i].Flush();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                failures[i] = e;
            }
        });
        return failures;
    }

    /// <summary>
    /// True when one syncfs of <paramref name="folder"/>'s file system makes every file in it durable: its real path
    /// (symbolic links resolved) has no mount inside it and lies on a file system of <see cref="FileSystemSyncTypes"/>.
    /// False when that cannot be told.
    /// </summary>
    internal bool CanSyncFileSystem(string folder)
    {
        if (!OperatingSystem.IsLinux() || _readMountInfo() is not { } mountInfo)
        {
            return false;
        }

        string real;
        try
        {
            real = DirectorySync.RealPath(folder);
        }
        catch (IOException)
        {
            return false;
        }

        return !HasMountInside(real, mountInfo) && FileSystemType(real, mountInfo) is { } type && FileSystemSyncTypes.Contains(type);
    }

    /// <summary>
    /// True when some file system is mounted on a folder inside <paramref name="folder"/> (an absolute path, its
    /// symbolic links resolved by the caller) according to <paramref name="mountInfo"/> (/proc/self/mountinfo's text).
    /// </summary>
    internal static bool HasMountInside(string folder, string mountInfo)
    {
        var root = Path.TrimEndingDirectorySeparator(folder) + "/";
        foreach (var (mount, _) in Mounts(mountInfo))
        {
            if (mount.Length > root.Length && mount.StartsWith(root, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The type of the file system holding <paramref name="folder"/> (real path): that of the deepest mount above it, or null.</summary>
    internal static string? FileSystemType(string folder, string mountInfo)
    {
        var root = Path.TrimEndingDirectorySeparator(folder) + "/";
        string? type = null;
        var depth = -1;
        foreach (var (mount, fsType) in Mounts(mountInfo))
        {
            // A later line for the same mount point is mounted over the earlier one: >= keeps the last.
            if (root.StartsWith(mount, StringComparison.Ordinal) && mount.Length >= depth)
            {
                depth = mount.Length;
                type = fsType;
            }
        }

        return type;
    }

    /// <summary>
    /// The mount point (octal-unescaped, ending in '/') and file-system type of each line of mountinfo:
    /// "id parent major:minor root mount-point options [optional fields...] - fstype source super-options".
    /// </summary>
    private static IEnumerable<(string Mount, string? Type)> Mounts(string mountInfo)
    {
        foreach (var line in mountInfo.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split(' ');
            if (fields.Length < 5)
            {
                continue;
            }

            var separator = Array.IndexOf(fields, "-", 6);
            var type = separator > 0 && separator + 1 < fields.Length ? fields[separator + 1] : null;
            yield return (UnescapeMountPoint(fields[4]), type);
        }
    }

    private static string? ReadMountInfo()
    {
        try
        {
            return File.ReadAllText("/proc/self/mountinfo");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Runs a parallel loop of flushes, its failures thrown as one <see cref="IOException"/> (the first, the rest counted).</summary>
    private static void InParallel(Action loop)
    {
        try
        {
            loop();
        }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.All(x => x is IOException or UnauthorizedAccessException))
        {
            var all = e.Flatten().InnerExceptions;
            var more = all.Count > 1 ? $" (and {all.Count - 1} more failures)" : string.Empty;
            throw new IOException(all[0].Message + more, all[0]);
        }
    }

    private static string UnescapeMountPoint(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field.EndsWith('/') ? field : field + "/";
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

    /// <summary>A handle on the folder's file system opened before a batch's writes (see <see cref="Mark"/>).</summary>
    internal sealed class FileSystemMark(SafeFileHandle handle) : IDisposable
    {
        public SafeFileHandle Handle { get; } = handle;

        public void Dispose() => Handle.Dispose();
    }
}
