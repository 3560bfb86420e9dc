using System.Runtime.InteropServices;

namespace Dropbox.Shared.IO;

/// <summary>
/// fsync of a directory after a rename, create or delete in it, so the change survives a power loss (.NET cannot open a
/// directory as a file, hence libc). A no-op where that is not available (Windows, where NTFS journals renames).
/// </summary>
public static partial class DirectorySync
{
    private const int ReadOnly = 0;

    /// <summary>Makes the directory's entries durable (best effort where libc is not reachable).</summary>
    public static void Flush(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
        {
            return;
        }

        try
        {
            var fd = Open(directory, ReadOnly);
            if (fd < 0)
            {
                return;
            }

            try
            {
                _ = Fsync(fd);
            }
            finally
            {
                _ = Close(fd);
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Durability of the rename is best effort where libc cannot be reached.
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
