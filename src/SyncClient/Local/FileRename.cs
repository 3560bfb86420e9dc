using System.Runtime.InteropServices;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// Renames a file over another name in the same folder, replacing what is there, as <c>File.Move(source, destination,
/// overwrite: true)</c> does. On Linux it is one <c>rename</c> call: File.Move first looks at the source (an lstat) to
/// refuse a folder there, which a download's own temp file never is, and a second device's first pass renames every file
/// it downloads. The caller has already refused a folder at the destination. Elsewhere File.Move.
/// </summary>
internal static partial class FileRename
{
    private const int Interrupted = 4;
    private const int NotFound = 2;
    private const int NotPermitted = 1;
    private const int AccessDenied = 13;

    /// <summary>Moves <paramref name="source"/> (a file) to <paramref name="destination"/>, replacing a file there.</summary>
    /// <exception cref="IOException">The rename failed (FileNotFoundException when the source is gone).</exception>
    /// <exception cref="UnauthorizedAccessException">Permission denied.</exception>
    public static void Replace(string source, string destination)
    {
        if (!OperatingSystem.IsLinux())
        {
            File.Move(source, destination, overwrite: true);
            return;
        }

        int result;
        do
        {
            result = Rename(source, destination);
        }
        while (result != 0 && Marshal.GetLastPInvokeError() == Interrupted);

        if (result == 0)
        {
            return;
        }

        var errno = Marshal.GetLastPInvokeError();
        var message = $"Could not rename '{source}' to '{destination}': errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)}).";
        throw errno switch
        {
            NotFound => new FileNotFoundException(message, source),
            NotPermitted or AccessDenied => new UnauthorizedAccessException(message),
            _ => new IOException(message, errno),
        };
    }

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Rename(string source, string destination);
}
