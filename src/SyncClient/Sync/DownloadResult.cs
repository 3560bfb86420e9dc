namespace Dropbox.SyncClient.Sync;

/// <summary>How a download ended.</summary>
/// <param name="Placed">The remote version is now at the path.</param>
/// <param name="ConflictCopy">A local edit made meanwhile was moved aside to this path (upload it).</param>
internal sealed record DownloadResult(bool Placed, string? ConflictCopy)
{
    public static DownloadResult Gone { get; } = new(false, null);
}
