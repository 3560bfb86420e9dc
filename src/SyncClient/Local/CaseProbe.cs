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
    public static bool? Folds(string folder)
    {
        var name = TempName();
        var probe = Path.Combine(folder, name);
        try
        {
            new FileStream(probe, FileMode.CreateNew, FileAccess.Write).Dispose();
            return File.Exists(Path.Combine(folder, name.ToUpperInvariant()));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return null;
        }
        finally
        {
            try
            {
                File.Delete(probe);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Left behind: harmless (a hidden empty file), never synced, and swept by the next scan (LocalScanner.IsOwnTempFile).
            }
        }
    }

    /// <summary>
    /// The probe file's name: a download's temp file name (the prefix and 32 hex digits), so every scan ignores it and
    /// one left behind (a kill between create and delete) is swept as a stale temp file (LocalScanner.IsOwnTempFile).
    /// </summary>
    internal static string TempName() => IgnoreMatcher.TempPrefix + Guid.NewGuid().ToString("N");
}
