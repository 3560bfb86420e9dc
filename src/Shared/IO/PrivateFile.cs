using Microsoft.Win32.SafeHandles;

namespace Dropbox.Shared.IO;

/// <summary>Files that hold data, tokens or keys: owner read/write only (0600) on Unix.</summary>
public static class PrivateFile
{
    /// <summary>rw for the owner only.</summary>
    public const UnixFileMode Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Sets an open file to 0600 (right after creating it; its folder keeps others out meanwhile).</summary>
    public static void Restrict(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(handle, Mode);
        }
    }

    /// <summary>Sets a file to 0600 if it is anything else.</summary>
    public static void Restrict(string path)
    {
        if (!OperatingSystem.IsWindows() && File.GetUnixFileMode(path) != Mode)
        {
            File.SetUnixFileMode(path, Mode);
        }
    }

    /// <summary>Options for a <see cref="FileStream"/> that creates an owner-only file.</summary>
    public static FileStreamOptions CreateOptions(FileMode mode = FileMode.Create)
    {
        var options = new FileStreamOptions { Mode = mode, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = Mode;
        }

        return options;
    }
}
