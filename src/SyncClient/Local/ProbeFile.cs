namespace Dropbox.SyncClient.Local;

/// <summary>
/// A question put to a folder's file system through a temp file made for it: created empty, handed to the check, then
/// deleted. Named as a download's temp file (the prefix and 32 hex digits), so every scan ignores it and one left behind
/// (a kill between create and delete) is swept as a stale temp file (<see cref="TempName"/>).
/// </summary>
internal static class ProbeFile
{
    /// <summary>
    /// The answer of <paramref name="check"/> on a new temp file in <paramref name="folder"/>; null when the probe
    /// cannot be made (a full disk, no write access, a share's hiccup): the caller asks again later.
    /// </summary>
    public static bool? Ask(string folder, Func<string, bool> check)
    {
        var probe = Path.Combine(folder, TempName.New());
        try
        {
            new FileStream(probe, FileMode.CreateNew, FileAccess.Write).Dispose();
            return check(probe);
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
                // Left behind: harmless (a hidden empty file), never synced, and swept by the next scan.
            }
        }
    }
}
