using System.Runtime.InteropServices;
using Dropbox.Shared.IO;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// An open folder inside the sync folder, reached from the sync folder one name at a time with <c>O_NOFOLLOW</c> (Linux):
/// a folder on the way that is a symbolic link fails the open, so the handle is never a folder a link led to. A batch of
/// downloads creates its temp files in it and renames them into place relative to it (<c>openat</c>, <c>renameat2</c>,
/// <c>statx</c> on the handle), so a folder swapped for a link after the open is never written through either: the calls
/// name the very folder that was opened. That replaces the link check of every path (a <c>readlink</c> of each folder on
/// the way, twice a file: profiled, 6 of a small file's ~26 system calls in a second device's first download) with one
/// walk per folder per batch, and each file's calls look up one name instead of the whole path.
/// </summary>
/// <remarks>
/// Only where the flags' values are known (Linux on x64 and arm64); elsewhere <see cref="TryOpen"/> gives null and the
/// callers check paths as before (<see cref="SyncPaths.Resolve"/>).
/// </remarks>
internal sealed partial class FolderHandle : IDisposable
{
    private const int ReadOnly = 0;
    private const int WriteOnly = 1;
    private const int Create = 0x40;
    private const int Exclusive = 0x80;
    private const uint NoReplace = 1; // RENAME_NOREPLACE
    private const int NotPermitted = 1;    // EPERM
    private const int NotFound = 2;        // ENOENT
    private const int Interrupted = 4;     // EINTR
    private const int AccessDenied = 13;   // EACCES
    private const int Exists = 17;         // EEXIST
    private const int NotADirectory = 20;  // ENOTDIR
    private const int InvalidArgument = 22; // EINVAL
    private const int NotImplemented = 38; // ENOSYS
    private const int LoopErrno = 40;      // ELOOP: a link where O_NOFOLLOW allows none
    private const int NotSupported = 95;   // EOPNOTSUPP
    private const int MaxInterruptedTries = 100;

    private readonly SafeFileHandle _handle;

    private FolderHandle(SafeFileHandle handle, string fullPath)
    {
        _handle = handle;
        FullPath = fullPath;
    }

    /// <summary>The folder's path as it was opened (for messages and the path-based fallbacks; never used to reach it).</summary>
    public string FullPath { get; }

    /// <summary>O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC here, or null where their values are not known.</summary>
    private static (int Directory, int NoFollow, int CloseOnExec)? Flags { get; } =
        !OperatingSystem.IsLinux() ? null
        : RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => (0x10000, 0x20000, 0x80000),
            Architecture.Arm64 => (0x4000, 0x8000, 0x80000),
            _ => null,
        };

    /// <summary>True where folders can be opened this way (else callers check paths).</summary>
    public static bool Supported => Flags is not null;

    /// <summary>
    /// The sync folder itself, opened as it is named (it may be a link: the user chose it); null where not
    /// <see cref="Supported"/>.
    /// </summary>
    /// <exception cref="IOException">The folder cannot be opened.</exception>
    public static FolderHandle? TryOpenRoot(string root)
    {
        if (Flags is not { } flags)
        {
            return null;
        }

        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var fd = Retry(() => OpenAt(-100, full, ReadOnly | flags.Directory | flags.CloseOnExec, 0));
        return fd.Fd < 0 ? throw new IOException($"Could not open the sync folder '{full}': {Describe(fd.Errno)}.", fd.Errno) : new FolderHandle(new SafeFileHandle((IntPtr)fd.Fd, ownsHandle: true), full);
    }

    /// <summary>
    /// The folder <paramref name="name"/> inside this one, not followed if it is a link: null when it is a link or not a
    /// folder (the caller says why, with the path check) or when nothing is there (<paramref name="missing"/>), an
    /// <see cref="IOException"/> for any other failure.
    /// </summary>
    public FolderHandle? TryOpenChild(string name, out bool missing)
    {
        CheckName(name);
        var flags = Flags!.Value;
        var fd = WithHandle(dir => Retry(() => OpenAt(dir, name, ReadOnly | flags.Directory | flags.NoFollow | flags.CloseOnExec, 0)));
        missing = fd.Fd < 0 && fd.Errno == NotFound;
        if (fd.Fd >= 0)
        {
            return new FolderHandle(new SafeFileHandle((IntPtr)fd.Fd, ownsHandle: true), Path.Combine(FullPath, name));
        }

        return fd.Errno is LoopErrno or NotADirectory or NotFound ? null
            : throw new IOException($"Could not open the folder '{Path.Combine(FullPath, name)}': {Describe(fd.Errno)}.", fd.Errno);
    }

    /// <summary>Makes the folder <paramref name="name"/> in this one (one made meanwhile by someone else is fine: the caller opens it without following a link).</summary>
    public void MakeFolder(string name)
    {
        CheckName(name);
        var result = WithHandle(dir => Retry(() => MkdirAt(dir, name, 0b111_111_111)));
        if (result.Fd < 0 && result.Errno != Exists)
        {
            var where = Path.Combine(FullPath, name);
            throw result.Errno is AccessDenied or NotPermitted
                ? new UnauthorizedAccessException($"Could not create the folder '{where}': permission denied.")
                : new IOException($"Could not create the folder '{where}': {Describe(result.Errno)}.", result.Errno);
        }
    }

    /// <summary>A new file <paramref name="name"/> in this folder, open for writing; fails if anything is at that name (a link too).</summary>
    public SafeFileHandle CreateNew(string name)
    {
        CheckName(name);
        var flags = Flags!.Value;
        var fd = WithHandle(dir => Retry(() => OpenAt(dir, name, WriteOnly | Create | Exclusive | flags.NoFollow | flags.CloseOnExec, 0b110_110_110)));
        if (fd.Fd < 0)
        {
            var where = Path.Combine(FullPath, name);
            throw fd.Errno switch
            {
                AccessDenied or NotPermitted => new UnauthorizedAccessException($"Could not create '{where}': permission denied."),
                _ => new IOException($"Could not create '{where}': {Describe(fd.Errno)}.", fd.Errno),
            };
        }

        return new SafeFileHandle((IntPtr)fd.Fd, ownsHandle: true);
    }

    /// <summary>Renames <paramref name="source"/> to <paramref name="destination"/> (both names in this folder), never over anything there.</summary>
    public RenameOutcome MoveNew(string source, string destination)
    {
        CheckName(source);
        CheckName(destination);
        int errno;
        try
        {
            errno = WithHandle(dir => Retry(() => RenameAt2(dir, source, dir, destination, NoReplace)).Errno);
        }
        catch (EntryPointNotFoundException)
        {
            return RenameOutcome.NotSupported; // a C library older than the call (glibc before 2.28)
        }

        return errno switch
        {
            0 => RenameOutcome.Done,
            InvalidArgument or NotImplemented or NotSupported => RenameOutcome.NotSupported,
            Exists => RenameOutcome.DestinationExists,
            AccessDenied or NotPermitted => throw new UnauthorizedAccessException($"Could not put '{source}' in place as '{Path.Combine(FullPath, destination)}': permission denied."),
            _ => throw new IOException($"Could not put '{source}' in place as '{Path.Combine(FullPath, destination)}': {Describe(errno)}.", errno),
        };
    }

    /// <summary>What is at <paramref name="name"/> in this folder (not followed), as <see cref="FileChangeTime.TryStat(string)"/> says.</summary>
    public FileChangeTime.Stat? TryStat(string name)
    {
        CheckName(name);
        return WithHandle(dir => FileChangeTime.TryStatAt(dir, name));
    }

    /// <summary>
    /// Removes the file <paramref name="name"/> from this folder (the folder as opened, wherever it is now: never through
    /// a link put at its old path since); false when it could not (nothing there, no permission...).
    /// </summary>
    public bool TryDelete(string name)
    {
        CheckName(name);
        try
        {
            return WithHandle(dir => Retry(() => UnlinkAt(dir, name, 0))).Fd == 0;
        }
        catch (ObjectDisposedException)
        {
            return false; // the batch's folders already closed: left as a stray temp file, cleaned up later
        }
    }

    /// <summary>
    /// Makes this folder's entries durable: an fsync of the folder as opened, so it is the folder the renames went
    /// into even if it was moved or a link put at its path since (an fsync by path would open whatever is there now).
    /// </summary>
    /// <exception cref="IOException">The fsync failed.</exception>
    public void Flush()
    {
        var errno = WithHandle(dir => Retry(() => Fsync(dir)).Errno);
        if (errno != 0)
        {
            throw new IOException($"Could not sync the folder '{FullPath}': {Describe(errno)}.", errno);
        }
    }

    /// <summary>
    /// The folder's device and inode (statx on the open handle): the same pair at a path means the path leads to this very
    /// folder. Null where they cannot be read (no statx).
    /// </summary>
    public (ulong Device, ulong Inode)? TryIdentity() => WithHandle(FileChangeTime.TryIdentity);

    /// <summary>
    /// Refuses anything but one plain name: every call here looks a name up in this folder alone, so '..', '.', a
    /// path with '/' or an empty name would reach another folder (or none).
    /// </summary>
    private static void CheckName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name is "." or ".." || name.Contains('/', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{name.Replace("\0", "\\0", StringComparison.Ordinal)}' is not one plain name inside a folder (it is empty, '.', '..', or holds '/' or a NUL).", nameof(name));
        }
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();

    private T WithHandle<T>(Func<int, T> call)
    {
        var added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
            return call((int)_handle.DangerousGetHandle());
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    /// <summary>Runs a libc call again while a signal interrupts it (EINTR), a bounded number of times: its result and errno.</summary>
    private static (int Fd, int Errno) Retry(Func<int> call)
    {
        for (var tries = 1; ; tries++)
        {
            var result = call();
            if (result >= 0)
            {
                return (result, 0);
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno != Interrupted || tries >= MaxInterruptedTries)
            {
                return (result, errno);
            }
        }
    }

    private static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenAt(int dirfd, string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkdirAt(int dirfd, string path, int mode);

    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int UnlinkAt(int dirfd, string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt2(int sourceDirectory, string source, int destinationDirectory, string destination, uint flags);
}
