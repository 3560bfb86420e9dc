using System.Runtime.InteropServices;

namespace Dropbox.Shared.IO;

/// <summary>
/// The Linux errno values the file helpers here act on, and the one retry of a call a signal interrupted (EINTR): a
/// bounded number of tries, so a call that keeps being interrupted fails with an error rather than spinning for ever.
/// </summary>
internal static class Errno
{
    public const int NotPermitted = 1;        // EPERM
    public const int NotFound = 2;            // ENOENT
    public const int Interrupted = 4;         // EINTR
    public const int AccessDenied = 13;       // EACCES
    public const int Exists = 17;             // EEXIST
    public const int NotADirectory = 20;      // ENOTDIR
    public const int IsADirectory = 21;       // EISDIR
    public const int InvalidArgument = 22;    // EINVAL
    public const int NoSpace = 28;            // ENOSPC
    public const int ReadOnlyFileSystem = 30; // EROFS
    public const int NotImplemented = 38;     // ENOSYS
    public const int NotEmpty = 39;           // ENOTEMPTY
    public const int NotSupported = 95;       // EOPNOTSUPP

    /// <summary>Most tries of a call that keeps failing with EINTR.</summary>
    public const int MaxInterruptedTries = 100;

    /// <summary>
    /// Runs <paramref name="call"/> (a libc call returning 0 or -1 with errno) again while it fails with EINTR, at most
    /// <see cref="MaxInterruptedTries"/> times. Returns 0, or the errno of the last failure.
    /// </summary>
    public static int Retry(Func<int> call)
    {
        for (var tries = 1; ; tries++)
        {
            if (call() == 0)
            {
                return 0;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno != Interrupted || tries >= MaxInterruptedTries)
            {
                return errno;
            }
        }
    }

    /// <summary>The system's text for <paramref name="errno"/>, with the number.</summary>
    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
