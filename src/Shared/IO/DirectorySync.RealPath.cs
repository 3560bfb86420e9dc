using System.Runtime.InteropServices;

namespace Dropbox.Shared.IO;

public static partial class DirectorySync
{
    /// <summary>
    /// The canonical absolute path of an existing <paramref name="path"/>, every symbolic link in it resolved (libc
    /// <c>realpath</c>), as /proc/self/mountinfo names mount points. Elsewhere than Linux and macOS, the full path as
    /// given. Throws <see cref="IOException"/> (with the errno) when the path cannot be resolved (missing, say).
    /// </summary>
    public static string RealPath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return Path.GetFullPath(path);
        }

        var resolved = RealPathNative(Path.GetFullPath(path), IntPtr.Zero);
        if (resolved == IntPtr.Zero)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"Could not resolve the real path of '{path}': realpath failed with errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)}).", errno);
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved)!;
        }
        finally
        {
            Free(resolved);
        }
    }

    [LibraryImport("libc", EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr RealPathNative(string path, IntPtr resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(IntPtr pointer);
}
