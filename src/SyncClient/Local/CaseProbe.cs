namespace Dropbox.SyncClient.Local;

/// <summary>
/// Whether a folder's file system folds case (macOS's APFS and HFS+ by default, NTFS, vfat/exFAT, SMB shares): a temp
/// file is created in it under a lower-case name and looked up under the upper-case one. There two names that differ
/// only in case are one file, so a new remote name beside a local one that differs from it only in case would land
/// on the local file.
/// </summary>
internal static class CaseProbe
{
    /// <summary>
    /// True when <paramref name="folder"/> finds a file under a name that differs from it only in case; false when it
    /// does not; null when the probe cannot be made (a full disk, no write access, a share's hiccup): asked again later.
    /// </summary>
    public static bool? Folds(string folder) =>
        ProbeFile.Ask(folder, probe => File.Exists(Path.Combine(folder, Path.GetFileName(probe).ToUpperInvariant())));
}
