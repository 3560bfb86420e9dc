namespace Dropbox.SyncClient.Local;

/// <summary>
/// The one permission that syncs: the owner-executable bit (a script or a binary stays runnable on every device). Read
/// from the file's mode and applied to a download before it is renamed into place; on Windows there is none (false,
/// nothing applied).
/// </summary>
internal static class ExecutableBit
{
    private const UnixFileMode AnyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>True when <paramref name="mode"/> lets the owner execute.</summary>
    public static bool Of(UnixFileMode mode) => (mode & UnixFileMode.UserExecute) != 0;

    /// <summary>The bit of the file at <paramref name="fullPath"/>; false when it cannot be read (gone, Windows).</summary>
    public static bool TryRead(string fullPath)
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }

        try
        {
            return Of(File.GetUnixFileMode(fullPath));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Sets or clears the bit as <c>chmod +x</c> / <c>chmod -x</c> would (execute for whoever may read when set; every
    /// execute bit cleared when not), changing nothing when the file is already so.
    /// </summary>
    public static void Apply(string fullPath, bool executable)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var mode = File.GetUnixFileMode(fullPath);
        var next = mode & ~AnyExecute;
        if (executable)
        {
            next |= UnixFileMode.UserExecute;
            next |= (mode & UnixFileMode.GroupRead) != 0 ? UnixFileMode.GroupExecute : 0;
            next |= (mode & UnixFileMode.OtherRead) != 0 ? UnixFileMode.OtherExecute : 0;
        }

        if (next != mode)
        {
            File.SetUnixFileMode(fullPath, next);
        }
    }
}
