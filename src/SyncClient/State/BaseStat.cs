namespace Dropbox.SyncClient.State;

/// <summary>
/// The part of a tracked path's <see cref="FileRecord"/> a pass needs to tell "unchanged" from "look closer": kept
/// per tracked path for the whole pass, so it is a small struct (no hash, no path copy beyond the dictionary key).
/// </summary>
/// <param name="Kind">File or folder.</param>
/// <param name="Size">Size in bytes when synced.</param>
/// <param name="MtimeTicks">Local last-write time (UTC ticks) when synced.</param>
/// <param name="Version">Remote version this path was last synced to.</param>
internal record struct BaseStat(FileKind Kind, long Size, long MtimeTicks, ulong Version)
{
    /// <summary>Set during a scan when the path was found as synced, with nothing to do for it.</summary>
    public bool Clean { get; set; }

    /// <summary>The owner-executable bit when synced: a chmod alone makes the path not clean.</summary>
    public bool Executable { get; init; }
}
