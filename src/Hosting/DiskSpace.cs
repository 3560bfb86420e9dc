using Prometheus;

namespace Dropbox.Hosting;

/// <summary>Free and total space of the file system holding a directory, for the disk gauges of both node kinds.</summary>
public static class DiskSpace
{
    /// <summary>Sets the gauges from the file system of <paramref name="directory"/>; leaves them as they were if it cannot be read.</summary>
    public static void Set(string directory, Gauge free, Gauge total)
    {
        ArgumentNullException.ThrowIfNull(free);
        ArgumentNullException.ThrowIfNull(total);
        try
        {
            var drive = new DriveInfo(Path.GetFullPath(directory));
            free.Set(drive.AvailableFreeSpace);
            total.Set(drive.TotalSize);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // A scrape must not fail over one gauge; the others still tell the story.
        }
    }
}
