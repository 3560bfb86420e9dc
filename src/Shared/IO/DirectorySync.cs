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

        var fd = Open(directory, OpenFlags(directory));
        if (fd < 0)
        {
            throw Failure("open", directory);
        }

        try
        {
            if (Errno.Retry(() => Fsync(fd)) is var errno and not 0)
            {
                throw Failure("fsync", directory, errno);
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>
    /// O_DIRECTORY (open fails with ENOTDIR unless the path is a directory) and O_CLOEXEC for an OS and CPU, or
    /// null where their values are not known here. The values differ: Linux on x86/x64/s390x/RISC-V/LoongArch
    /// uses the generic 0x10000/0x80000, Linux on ARM and POWER 0x4000/0x80000, macOS 0x100000/0x1000000,
    /// FreeBSD 0x20000/0x100000.
    /// </summary>
    internal static (int Directory, int CloseOnExec)? FlagsFor(OSPlatform os, Architecture architecture)
    {
        if (os == OSPlatform.Linux)
        {
            return architecture switch
            {
                Architecture.X64 or Architecture.X86 or Architecture.S390x or Architecture.RiscV64 or Architecture.LoongArch64 => (0x10000, 0x80000),
                Architecture.Arm64 or Architecture.Arm or Architecture.Ppc64le => (0x4000, 0x80000),
                _ => null,
            };
        }

        if (os == OSPlatform.OSX)
        {
            return (0x100000, 0x1000000);
        }

        return os == OSPlatform.FreeBSD ? (0x20000, 0x100000) : null;
    }

    private static OSPlatform CurrentOs =>
        OperatingSystem.IsLinux() ? OSPlatform.Linux
        : OperatingSystem.IsMacOS() || OperatingSystem.IsMacCatalyst() || OperatingSystem.IsIOS() ? OSPlatform.OSX
        : OperatingSystem.IsFreeBSD() ? OSPlatform.FreeBSD
        : OSPlatform.Create("OTHER");

    /// <summary>
    /// The open flags here: O_RDONLY|O_DIRECTORY|O_CLOEXEC where their values are known; elsewhere plain O_RDONLY
    /// (which opens a directory just as well) after checking that the path is a directory, rather than pass a
    /// guessed bit that may mean something else (O_CREAT, say) on that system.
    /// </summary>
    private static int OpenFlags(string directory)
    {
        if (FlagsFor(CurrentOs, RuntimeInformation.ProcessArchitecture) is { } flags)
        {
            return ReadOnly | flags.Directory | flags.CloseOnExec;
        }

        if (!Directory.Exists(directory))
        {
            throw new IOException($"Could not make the entries of directory '{directory}' durable: it is not a directory.");
        }

        return ReadOnly;
    }

    private static IOException Failure(string call, string directory) => Failure(call, directory, Marshal.GetLastPInvokeError());

    private static IOException Failure(string call, string directory, int errno) =>
        new($"Could not make the entries of directory '{directory}' durable: {call} failed: {Errno.Describe(errno)}.", errno);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
