using System.Runtime.InteropServices;

namespace Dropbox.Shared.IO;

/// <summary>
/// Renames a file to another name in its folder: the one helper for putting a finished temp file in place. On Linux each
/// is one call (<c>rename</c>, <c>renameat2</c>): <c>File.Move</c> first looks at the source (an lstat), and a second
/// device's first pass renames every file it downloads. Besides the plain replace, a move that never replaces
/// (<see cref="MoveNew"/>) and an exchange (<see cref="Exchange"/>) let a caller that must not lose what a local process
/// put at the name while it was not looking find it afterwards. Errors name the destination and say why in words.
/// </summary>
public static partial class FileRename
{
    private const int AtCurrentDirectory = -100; // AT_FDCWD
    private const uint NoReplace = 1;            // RENAME_NOREPLACE
    private const uint ExchangeFlag = 2;         // RENAME_EXCHANGE

    /// <summary>
    /// Moves <paramref name="source"/> (a file) to <paramref name="destination"/>, replacing a file (or link) there, as
    /// <c>File.Move(source, destination, overwrite: true)</c> does. Elsewhere than Linux that call.
    /// </summary>
    /// <exception cref="FileNotFoundException">The source is gone.</exception>
    /// <exception cref="DirectoryNotFoundException">The destination's folder does not exist.</exception>
    /// <exception cref="UnauthorizedAccessException">Permission denied.</exception>
    /// <exception cref="IOException">Any other failure (a folder at the destination, a file where a folder should be, a full disk), its errno as HResult.</exception>
    public static void Replace(string source, string destination)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentException.ThrowIfNullOrEmpty(destination);
        if (!OperatingSystem.IsLinux())
        {
            File.Move(source, destination, overwrite: true);
            return;
        }

        if (Errno.Retry(() => Rename(source, destination)) is var errno and not 0)
        {
            throw Failure(errno, source, destination);
        }
    }

    /// <summary>
    /// Moves <paramref name="source"/> to <paramref name="destination"/> only if nothing is there, in one step (Linux
    /// <c>renameat2(RENAME_NOREPLACE)</c>): <see cref="RenameOutcome.DestinationExists"/> when something is, whatever
    /// appeared there a moment before. <see cref="RenameOutcome.NotSupported"/> elsewhere than Linux, on a kernel or C
    /// library without the call, and on a file system that refuses the flag.
    /// </summary>
    /// <exception cref="IOException">As <see cref="Replace"/>.</exception>
    public static RenameOutcome MoveNew(string source, string destination) => RenameWith(source, destination, NoReplace);

    /// <summary>
    /// As <see cref="MoveNew"/>, and where that is not supported, <see cref="File.Move(string, string)"/>, which refuses
    /// an existing name too (with an <see cref="IOException"/>; only what appears between its check and its rename is
    /// replaced). <see cref="RenameOutcome.Done"/> or <see cref="RenameOutcome.DestinationExists"/>.
    /// </summary>
    /// <exception cref="IOException">As <see cref="Replace"/>, or the fallback's refusal.</exception>
    public static RenameOutcome MoveNewElseMove(string source, string destination)
    {
        var outcome = MoveNew(source, destination);
        if (outcome != RenameOutcome.NotSupported)
        {
            return outcome;
        }

        File.Move(source, destination);
        return RenameOutcome.Done;
    }

    /// <summary>
    /// Exchanges <paramref name="source"/> and <paramref name="destination"/> in one step (Linux
    /// <c>renameat2(RENAME_EXCHANGE)</c>): what was at the destination is then at the source's name, for the caller to
    /// look at. <see cref="RenameOutcome.DestinationMissing"/> when nothing is at the destination (the source, a file or a
    /// folder, then still is where it was); <see cref="RenameOutcome.NotSupported"/> as for <see cref="MoveNew"/>.
    /// </summary>
    /// <exception cref="IOException">As <see cref="Replace"/>.</exception>
    public static RenameOutcome Exchange(string source, string destination) => RenameWith(source, destination, ExchangeFlag);

    /// <summary>
    /// Gives the file <paramref name="source"/> a second name, <paramref name="destination"/> (a hard link, Linux
    /// <c>link</c>), only if nothing is there: both names are then one file, and whatever is written through either (or
    /// through a handle open on it) is in both. <see cref="RenameOutcome.DestinationExists"/> when something is there;
    /// <see cref="RenameOutcome.NotSupported"/> elsewhere than Linux, on a file system without hard links (vfat: EPERM;
    /// some FUSE mounts: ENOSYS or EOPNOTSUPP), where the kernel refuses the link (protected_hardlinks: EPERM) or where
    /// the file has as many links as it can have (EMLINK).
    /// </summary>
    /// <exception cref="IOException">As <see cref="Replace"/>; across file systems with EXDEV (18) as its HResult.</exception>
    public static RenameOutcome LinkNew(string source, string destination)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentException.ThrowIfNullOrEmpty(destination);
        if (!OperatingSystem.IsLinux())
        {
            return RenameOutcome.NotSupported;
        }

        return Errno.Retry(() => HardLink(source, destination)) switch
        {
            0 => RenameOutcome.Done,
            Errno.Exists => RenameOutcome.DestinationExists,
            Errno.NotPermitted or Errno.NotSupported or Errno.NotImplemented or TooManyLinks => RenameOutcome.NotSupported,
            var errno => throw Failure(errno, source, destination),
        };
    }

    private const int TooManyLinks = 31; // EMLINK

    private static RenameOutcome RenameWith(string source, string destination, uint flags)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentException.ThrowIfNullOrEmpty(destination);
        if (!OperatingSystem.IsLinux())
        {
            return RenameOutcome.NotSupported;
        }

        int errno;
        try
        {
            errno = Errno.Retry(() => RenameAt2(AtCurrentDirectory, source, AtCurrentDirectory, destination, flags));
        }
        catch (EntryPointNotFoundException)
        {
            return RenameOutcome.NotSupported; // a C library older than the call (glibc before 2.28)
        }

        switch (errno)
        {
            case 0:
                return RenameOutcome.Done;
            case Errno.InvalidArgument or Errno.NotImplemented or Errno.NotSupported:
                return RenameOutcome.NotSupported;
            case Errno.Exists when flags == NoReplace:
                return RenameOutcome.DestinationExists;
            case Errno.NotFound when flags == ExchangeFlag && Path.Exists(source) && !Path.Exists(destination):
                return RenameOutcome.DestinationMissing;
            default:
                throw Failure(errno, source, destination);
        }
    }

    /// <summary>The error for a failed rename, naming the destination and saying why in words.</summary>
    private static Exception Failure(int errno, string source, string destination)
    {
        var start = $"Could not put '{Path.GetFileName(source)}' in place as '{destination}'";
        return errno switch
        {
            Errno.NotFound when !Directory.Exists(Path.GetDirectoryName(destination)) =>
                new DirectoryNotFoundException($"{start}: its folder does not exist (was it moved or deleted?)."),
            Errno.NotFound => new FileNotFoundException($"{start}: the file to put there ('{source}') is gone.", source),
            Errno.NotPermitted or Errno.AccessDenied => new UnauthorizedAccessException($"{start}: permission denied."),
            Errno.IsADirectory or Errno.Exists or Errno.NotEmpty => new IOException($"{start}: a folder is at that name.", errno),
            Errno.NotADirectory => new IOException($"{start}: a file is where a folder on the way should be.", errno),
            Errno.NoSpace => new IOException($"{start}: the disk is full.", errno),
            Errno.ReadOnlyFileSystem => new IOException($"{start}: the disk is read-only.", errno),
            _ => new IOException($"{start}: {Errno.Describe(errno)}.", errno),
        };
    }

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int HardLink(string source, string destination);

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Rename(string source, string destination);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt2(int sourceDirectory, string source, int destinationDirectory, string destination, uint flags);
}
