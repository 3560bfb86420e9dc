using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.Shared.IO;

/// <summary>
/// Turns <c>O_DIRECT</c> on or off for an open file (Linux, by fcntl): writes then go from the caller's buffer to the
/// device without a copy into the page cache. Such writes must start on, and cover whole, blocks of
/// <see cref="BlockSize"/> bytes from memory aligned the same way; a file system may still refuse them (the caller
/// falls back to buffered writes on the first failure).
/// </summary>
public static partial class DirectIo
{
    /// <summary>Alignment of direct writes (file offset, length and memory): the largest common logical block size.</summary>
    public const int BlockSize = 4096;

    private const int FcntlGetFlags = 3;
    private const int FcntlSetFlags = 4;

    /// <summary>Sets or clears O_DIRECT on <paramref name="handle"/>; false where that is not possible (not Linux, refused).</summary>
    public static bool TrySet(SafeFileHandle handle, bool enable)
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        // O_DIRECT differs by architecture (asm-generic vs x86).
        var direct = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 or Architecture.X86 => 0x4000,
            Architecture.Arm64 or Architecture.Arm => 0x10000,
            _ => 0,
        };
        if (direct == 0)
        {
            return false;
        }

        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            var fd = (int)handle.DangerousGetHandle();
            var flags = Fcntl(fd, FcntlGetFlags, 0);
            return flags >= 0 && Fcntl(fd, FcntlSetFlags, enable ? flags | direct : flags & ~direct) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // no libc fcntl to call: buffered writes, as on a file system that refuses O_DIRECT
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);
}
