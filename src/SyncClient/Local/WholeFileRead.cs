using System.Runtime.InteropServices;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// A small file's bytes read whole with the fewest system calls Linux needs: <c>openat</c> (a symbolic link not followed,
/// a FIFO not waited on, no terminal made the controlling one), <c>pread</c> until its end and once past it, <c>close</c>.
/// The runtime's <see cref="File.OpenHandle(string, FileMode, FileAccess, FileShare, FileOptions, long)"/> adds an
/// <c>fstat</c>, an advisory <c>flock</c> on and off the file (its <see cref="FileShare"/> emulation) and a finalizable
/// handle: profiled over a first upload of 10,000 files of 1-8 KiB, opening, checking and closing the files was about a
/// quarter of the client's CPU. The caller checks the path first (<see cref="FileHasher.TryReadAsync"/>: a FIFO or device
/// is never opened, so a writer waiting on a FIFO is not released into nothing and no driver's open runs); the flags are
/// for the moment between that check and the open.
/// </summary>
/// <remarks>
/// Without the runtime's shared lock a small file another program holds under an exclusive <c>flock</c> (a .NET writer's
/// <see cref="FileShare.None"/>) is read like any other, as other sync tools read it: what guards a file being written is
/// the check before and after the read (size, mtime, ctime) and again before its commit, never a lock. Only this read skips
/// the lock: a larger file's streamed read and the hashing read still open through the runtime, which takes the shared lock,
/// so such a file is reported as unreadable until the lock goes. Only where the flags' values are known (Linux on x64 and
/// arm64) and libc can be called; elsewhere <see cref="TryReadExactly(string, Span{byte})"/> answers null, having opened
/// nothing, and the caller reads through the runtime.
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
    /// Fills <paramref name="data"/> with the file at <paramref name="fullPath"/>: true when it holds exactly that many
    /// bytes, false when it holds more or fewer or cannot be opened or read (gone, a link, not permitted), null where this
    /// way of reading is not available (nothing was opened).
    /// </summary>
    public static unsafe bool? TryReadExactly(string fullPath, Span<byte> data) => TryReadExactly(fullPath, data, &PRead);

    /// <summary>
    /// As <see cref="TryReadExactly(string, Span{byte})"/>, each read made by <paramref name="pread"/>: libc's <c>pread</c> in
    /// production; in tests, a stand-in that cuts reads short away from the end (as a FUSE file system may) or fails them
    /// with EINTR.
    /// </summary>
    internal static unsafe bool? TryReadExactly(string fullPath, Span<byte> data, delegate*<int, byte*, nuint, long, nint> pread)
    {
        if (Flags is not { } flags || _unavailable)
        {
            return null;
        }

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
            return null;
        }

        if (fd < 0)
        {
            return false; // gone or swapped for a link (ELOOP) since the check, not permitted: the one-file path reports its error
        }

        try
        {
            var filled = 0;
            fixed (byte* start = data)
            {
                while (filled < data.Length)
                {
                    var n = ReadAt(pread, fd, start + filled, data.Length - filled, filled); // a short read is read on from where it ended
                    if (n <= 0)
                    {
                        return false; // shorter, or the read failed
                    }

                    filled += (int)n;
                }
            }

            byte past;
            return ReadAt(pread, fd, &past, 1, filled) == 0; // one byte more: longer
        }
        finally
        {
            _ = Close(fd);
        }
    }

    private static unsafe nint ReadAt(delegate*<int, byte*, nuint, long, nint> pread, int fd, byte* buffer, int count, long offset)
    {
        for (var tries = 1; ; tries++)
        {
            var n = pread(fd, buffer, (nuint)count, offset);
            if (n >= 0 || Marshal.GetLastPInvokeError() != Interrupted || tries >= MaxInterruptedTries)
            {
                return n;
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenAt(int dirfd, string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    internal static unsafe partial nint PRead(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
