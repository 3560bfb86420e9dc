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
    /// does not, or when the probe cannot be made (then names are taken as distinct, as on Linux).
    /// </summary>
    public static bool Folds(string folder)
    {
        // Named as a download's temp file: ignored by every scan, and a leftover is swept as a stale one.
        var name = IgnoreMatcher.TempPrefix + "case-" + Guid.NewGuid().ToString("N");
        var probe = Path.Combine(folder, name);
        try
        {
            new FileStream(probe, FileMode.CreateNew, FileAccess.Write).Dispose();
            return File.Exists(Path.Combine(folder, name.ToUpperInvariant()));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return false;
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
}
