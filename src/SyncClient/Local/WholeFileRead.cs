using System.Runtime.InteropServices;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// A small file read whole with the fewest system calls Linux needs: <c>statx</c> of the path (the check that it is the
/// regular file the scan saw, and its ctime, before anything is opened: a FIFO or device is never opened, so a writer
/// waiting on a FIFO is not released into nothing and no driver's open runs), <c>openat</c> (for the moment between the
/// check and the open: a symbolic link not followed, a FIFO not waited on, no terminal made the controlling one),
/// <c>pread</c> until its end and once past it, <c>close</c>. The runtime's
/// <see cref="File.OpenHandle(string, FileMode, FileAccess, FileShare, FileOptions, long)"/> adds an <c>fstat</c>, an
/// advisory <c>flock</c> on and off the file (its <see cref="FileShare"/> emulation) and a finalizable handle: profiled
/// over a first upload of 10,000 files of 1-8 KiB, opening, checking and closing the files was about a quarter of the
/// client's CPU.
/// </summary>
/// <remarks>
/// Without the runtime's shared lock a small file another program holds under an exclusive <c>flock</c> (a .NET writer's
/// <see cref="FileShare.None"/>) is read like any other, as a large file's streamed read and other sync tools read it:
/// what guards a file being written is the check before and after the read (size, mtime, ctime) and again before its
/// commit, never a lock. Only where the flags' values are known (Linux on x64 and arm64) and statx works; elsewhere
/// <see cref="TryRead"/> answers <see cref="WholeReadOutcome.Unsupported"/>, having opened nothing, and the caller reads as
/// before.
/// </remarks>
internal static partial class WholeFileRead
{
    private const int AtFdCwd = -100;
    private const int NonBlocking = 0x800;
    private const int Interrupted = 4; // EINTR
    private const int MaxInterruptedTries = 100;

    private const int NoControllingTerminal = 0x100;
    private const int CloseOnExec = 0x80000;

    private static volatile bool _unavailable;

    /// <summary>O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW here, or null where the values are not known.</summary>
    private static int? Flags { get; } =
        !OperatingSystem.IsLinux() ? null
        : RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => NonBlocking | NoControllingTerminal | CloseOnExec | 0x20000,
            Architecture.Arm64 => NonBlocking | NoControllingTerminal | CloseOnExec | 0x8000,
            _ => null,
        };

    /// <summary>
    /// Fills <paramref name="data"/> with the file at <paramref name="fullPath"/> if it is a regular file of exactly
    /// <paramref name="size"/> bytes and mtime <paramref name="mtimeTicks"/> and holds exactly that many bytes;
    /// <paramref name="ctimeNs"/> is its ctime as seen before the read. <see cref="WholeReadOutcome.NotAsScanned"/> when it is
    /// gone, unreadable, not a regular file (a link, a FIFO, a folder), or not as scanned or not as long as that;
    /// <see cref="WholeReadOutcome.Unsupported"/> where this way of reading is not available (nothing was opened).
    /// </summary>
    public static unsafe WholeReadOutcome TryRead(string fullPath, long size, long mtimeTicks, Span<byte> data, out long? ctimeNs)
    {
        ctimeNs = null;
        if (Flags is not { } flags || _unavailable || data.Length != size || FileChangeTime.TryStat(fullPath) is not { } seen)
        {
            return WholeReadOutcome.Unsupported;
        }

        if (!seen.IsFileAs(size, mtimeTicks))
        {
            return WholeReadOutcome.NotAsScanned; // nothing opened: gone, a link, a FIFO, a device, a folder, or changed
        }

        ctimeNs = seen.CtimeNs; // before the read: a write after this moves it
        int fd;
        try
        {
            fd = OpenAt(AtFdCwd, fullPath, flags, 0);
            for (var tries = 1; fd < 0 && Marshal.GetLastPInvokeError() == Interrupted && tries < MaxInterruptedTries; tries++)
            {
                fd = OpenAt(AtFdCwd, fullPath, flags, 0);
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _unavailable = true;
            ctimeNs = null;
            return WholeReadOutcome.Unsupported;
        }

        if (fd < 0)
        {
            return WholeReadOutcome.NotAsScanned; // gone or swapped for a link (ELOOP) since the check, not permitted: the one-file path reports its error
        }

        try
        {
            var filled = 0;
            fixed (byte* start = data)
            {
                while (filled < data.Length)
                {
                    var n = ReadAt(fd, start + filled, data.Length - filled, filled);
                    if (n <= 0)
                    {
                        return WholeReadOutcome.NotAsScanned; // shorter than scanned, or the read failed
                    }

                    filled += (int)n;
                }
            }

            byte past;
            return ReadAt(fd, &past, 1, filled) == 0 ? WholeReadOutcome.Read : WholeReadOutcome.NotAsScanned; // one byte more: longer
        }
        finally
        {
            _ = Close(fd);
        }
    }

    private static unsafe nint ReadAt(int fd, byte* buffer, int count, long offset)
    {
        for (var tries = 1; ; tries++)
        {
            var n = PRead(fd, buffer, (nuint)count, offset);
            if (n >= 0 || Marshal.GetLastPInvokeError() != Interrupted || tries >= MaxInterruptedTries)
            {
                return n;
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenAt(int dirfd, string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    private static unsafe partial nint PRead(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
