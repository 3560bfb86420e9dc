using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.Shared.IO;

public static partial class DirectorySync
{
    /// <summary>
    /// Makes every file of the file system that holds <paramref name="directory"/> durable in one call (Linux
    /// <c>syncfs</c>): a barrier for many files written at once, cheaper than one fsync each when there are thousands.
    /// Returns false where the call does not exist (not Linux), so the caller syncs file by file instead. Throws
    /// <see cref="IOException"/> when the directory cannot be opened or the kernel reports a write-back error (Linux
    /// 5.8 and later report one that happened since the directory was opened): nothing may then be taken as durable.
    /// </summary>
    public static bool SyncFileSystem(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        var fd = Open(directory, OpenFlags(directory));
        if (fd < 0)
        {
            throw Failure("open", directory);
        }

        try
        {
            if (Errno.Retry(() => SyncFs(fd)) is var errno and not 0)
            {
                throw Failure("syncfs", directory, errno);
            }

            return true;
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>
    /// True where <c>syncfs</c> reports write-back errors (Linux 5.8 and later): one that happened on the file system
    /// since the handle it is called on was opened, even if another opener was told of it already.
    /// </summary>
    public static bool FileSystemSyncReportsErrors => OperatingSystem.IsLinux() && Environment.OSVersion.Version >= new Version(5, 8);

    /// <summary>
    /// Opens <paramref name="directory"/> as a mark on its file system: <see cref="SyncFileSystem(SafeFileHandle, string)"/>
    /// on it later reports every write-back error since this call (see <see cref="FileSystemSyncReportsErrors"/>). Null
    /// where there is no syncfs (not Linux).
    /// </summary>
    public static SafeFileHandle? OpenFileSystemMark(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var fd = Open(directory, OpenFlags(directory));
        return fd >= 0 ? new SafeFileHandle(fd, ownsHandle: true) : throw Failure("open", directory);
    }

    /// <summary>
    /// <c>syncfs</c> through a mark from <see cref="OpenFileSystemMark"/>: every file of that file system durable, or an
    /// <see cref="IOException"/> when the kernel reports a write-back error since the mark was opened.
    /// </summary>
    public static void SyncFileSystem(SafeFileHandle mark, string directory)
    {
        ArgumentNullException.ThrowIfNull(mark);
        var added = false;
        mark.DangerousAddRef(ref added);
        try
        {
            var fd = (int)mark.DangerousGetHandle();
            if (Errno.Retry(() => SyncFs(fd)) is var errno and not 0)
            {
                throw Failure("syncfs", directory, errno);
            }
        }
        finally
        {
            if (added)
            {
                mark.DangerousRelease();
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFs(int fd);
}
