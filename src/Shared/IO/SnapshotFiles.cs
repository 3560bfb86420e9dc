using System.Runtime.InteropServices;

namespace Dropbox.Shared.IO;

/// <summary>
/// How backups take files: a hard link of an immutable file (no bytes copied; same file system), else a copy; and a
/// durable copy of a file's first bytes (a file still being appended to, which a link would let later writes reach).
/// </summary>
public static partial class SnapshotFiles
{
    private const int CopyBufferBytes = 1 << 20;

    /// <summary>
    /// Makes <paramref name="destination"/> a hard link of the immutable file <paramref name="source"/>, or an owner-only
    /// durable copy where a link is impossible (another file system, Windows). Returns true for a link. Only for files
    /// nothing writes to again: a link shares every later change.
    /// </summary>
    public static bool LinkOrCopy(string source, string destination, CancellationToken cancellationToken = default)
    {
        if (!OperatingSystem.IsWindows() && Link(source, destination) == 0)
        {
            return true;
        }

        CopyPrefix(source, destination, long.MaxValue, cancellationToken);
        return false;
    }

    /// <summary>
    /// Copies the first <paramref name="length"/> bytes of <paramref name="source"/> (all of it if shorter) into a new
    /// owner-only file <paramref name="destination"/> and fsyncs it. Returns the bytes copied. Checks
    /// <paramref name="cancellationToken"/> before every buffer: a copy of a large file stops soon after its caller gives up.
    /// </summary>
    public static long CopyPrefix(string source, string destination, long length, CancellationToken cancellationToken = default)
    {
        using var input = new FileStream(source, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite | FileShare.Delete, BufferSize = 0 });
        using var output = new FileStream(destination, PrivateFile.CreateOptions(FileMode.CreateNew));
        var buffer = new byte[CopyBufferBytes];
        long copied = 0;
        while (copied < length)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var n = input.Read(buffer, 0, (int)Math.Min(buffer.Length, length - copied));
            if (n == 0)
            {
                break;
            }

            output.Write(buffer, 0, n);
            copied += n;
        }

        output.Flush(flushToDisk: true);
        return copied;
    }

    /// <summary>Copies every file of <paramref name="source"/> (not its subfolders) into the new owner-only folder <paramref name="destination"/>, durably.</summary>
    public static int CopyFolder(string source, string destination)
    {
        PrivateFolder.Create(destination);
        var count = 0;
        foreach (var file in Directory.GetFiles(source))
        {
            CopyPrefix(file, Path.Combine(destination, Path.GetFileName(file)), long.MaxValue);
            count++;
        }

        DirectorySync.Flush(destination);
        return count;
    }

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string oldPath, string newPath);
}
