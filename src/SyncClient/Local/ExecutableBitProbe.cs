namespace Dropbox.SyncClient.Local;

/// <summary>
/// Whether a folder can hold the owner-executable bit: a temp file is created in it, set executable and read back, then
/// set plain and read back. vfat/exFAT (every file reads 0755 and chmod fails or is ignored), some network and FUSE
/// mounts, and Windows cannot; there the bit a scan reads says nothing about the user's intent, so it is treated as
/// unknown (never compared, never sent, never applied) and commits carry the previous version's bit forward.
/// </summary>
internal static class ExecutableBitProbe
{
    /// <summary>
    /// True when <paramref name="folder"/> holds the bit both ways; false on Windows or when either read-back differs;
    /// null when the probe cannot be made (an unwritable or full folder, a network hiccup): "cannot tell", which a pass
    /// takes as "cannot hold" and the next pass asks again.
    /// </summary>
    public static bool? Holds(string folder)
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }

        return ProbeFile.Ask(folder, HoldsBothWays);
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static bool HoldsBothWays(string probe)
    {
        const UnixFileMode plain = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        File.SetUnixFileMode(probe, plain | UnixFileMode.UserExecute);
        if (!ExecutableBit.Of(File.GetUnixFileMode(probe)))
        {
            return false;
        }

        File.SetUnixFileMode(probe, plain);
        return !ExecutableBit.Of(File.GetUnixFileMode(probe));
    }
}
