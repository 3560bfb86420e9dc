using System.Runtime.InteropServices;

namespace Dropbox.Shared.IO;

/// <summary>
/// fsync of a directory after a rename, create or delete in it, so the change survives a power loss. .NET refuses
/// to open a directory as a file on Unix (<c>File.OpenHandle</c> throws), hence libc: <c>open(O_RDONLY|O_DIRECTORY)</c>
/// and <c>fsync</c>. The one helper for this duty: a private copy that swallowed that refusal once meant no
/// directory was ever made durable. A no-op on Windows, where NTFS journals directory changes.
/// </summary>
public static partial class DirectorySync
{
    private const int ReadOnly = 0;
    private const int Interrupted = 4;

    /// <summary>
    /// Makes the directory's entries durable. Throws <see cref="IOException"/> (with the errno) if the directory
    /// cannot be opened or fsynced: a caller about to acknowledge something must not believe it durable.
    /// </summary>
    public static void Flush(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var fd = Open(directory, ReadOnly | DirectoryFlag | CloseOnExec);
        if (fd < 0)
        {
            throw Failure("open", directory);
        }

        try
        {
            int result;
            do
            {
                result = Fsync(fd);
            }
            while (result != 0 && Marshal.GetLastPInvokeError() == Interrupted);

            if (result != 0)
            {
                throw Failure("fsync", directory);
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>O_DIRECTORY: open fails (ENOTDIR) unless the path is a directory.</summary>
    private static int DirectoryFlag => OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD()
        ? 0x100000
        : RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x4000 : 0x10000;

    private static int CloseOnExec => OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? 0x1000000 : 0x80000;

    private static IOException Failure(string call, string directory)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new IOException($"Could not make the entries of directory '{directory}' durable: {call} failed with errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)}).", errno);
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
