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

    /// <summary>
    /// True when two bits are both known and differ: a bit that is unknown on either side (a folder that cannot hold it,
    /// a db row from before it was kept) is never a change.
    /// </summary>
    public static bool Differs(bool? a, bool? b) => a.HasValue && b.HasValue && a.Value != b.Value;

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
    /// As <see cref="Apply(string, bool, Action{string, UnixFileMode}?)"/>, on an open file (a download's temp file in a
    /// folder it holds open: no path looked up, so no link on the way followed).
    /// </summary>
    public static bool Apply(Microsoft.Win32.SafeHandles.SafeFileHandle handle, bool executable)
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }

        try
        {
            var mode = File.GetUnixFileMode(handle);
            var next = Next(mode, executable);
            if (next == mode)
            {
                return Of(mode);
            }

            File.SetUnixFileMode(handle, next);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The filesystem cannot hold this mode: keep the bytes, report what the file has.
        }

        try
        {
            return Of(File.GetUnixFileMode(handle));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static UnixFileMode Next(UnixFileMode mode, bool executable)
    {
        var next = mode & ~AnyExecute;
        if (executable)
        {
            next |= UnixFileMode.UserExecute;
            next |= (mode & UnixFileMode.GroupRead) != 0 ? UnixFileMode.GroupExecute : 0;
            next |= (mode & UnixFileMode.OtherRead) != 0 ? UnixFileMode.OtherExecute : 0;
        }

        return next;
    }

    /// <summary>
    /// Sets or clears the bit as <c>chmod +x</c> / <c>chmod -x</c> would (execute for whoever may read when set; every
    /// execute bit cleared when not), changing nothing when the file is already so, and returns the bit the file has
    /// afterwards, read back. Where the bit cannot be represented (Windows; vfat/exFAT, where every file reads 0755 and
    /// chmod fails) that differs from <paramref name="executable"/>: a refused chmod is not an error, the caller records
    /// what the file really has, so the next pass sees no change there and sends none. <paramref name="setMode"/> is a
    /// seam for tests (a filesystem that refuses or ignores chmod); by default <see cref="File.SetUnixFileMode(string, UnixFileMode)"/>.
    /// </summary>
    public static bool Apply(string fullPath, bool executable, Action<string, UnixFileMode>? setMode = null)
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }

        try
        {
            var mode = File.GetUnixFileMode(fullPath);
            var next = mode & ~AnyExecute;
            if (executable)
            {
                next |= UnixFileMode.UserExecute;
                next |= (mode & UnixFileMode.GroupRead) != 0 ? UnixFileMode.GroupExecute : 0;
                next |= (mode & UnixFileMode.OtherRead) != 0 ? UnixFileMode.OtherExecute : 0;
            }

            if (next == mode)
            {
                return Of(mode); // the mode just read is the read-back: no second look (one stat less per download)
            }

            if (setMode is null)
            {
                File.SetUnixFileMode(fullPath, next);
            }
            else
            {
                setMode(fullPath, next);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The filesystem cannot hold this mode: keep the bytes, report what the file has.
        }

        return TryRead(fullPath);
    }
}
