using System.Runtime.InteropServices;

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
            int result;
            do
            {
                result = SyncFs(fd);
            }
            while (result != 0 && Marshal.GetLastPInvokeError() == Interrupted);

            if (result != 0)
            {
                throw Failure("syncfs", directory);
            }

            return true;
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFs(int fd);
}
