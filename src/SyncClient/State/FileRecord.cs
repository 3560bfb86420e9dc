namespace Dropbox.SyncClient.State;

/// <summary>
/// What the client last synced at a path: the merge base for three-way decisions. Kept small (no chunk
/// list) because one of these lives in memory per tracked file during a pass.
/// </summary>
/// <param name="Path">Relative '/'-separated NFC path.</param>
/// <param name="Kind">File or folder.</param>
/// <param name="Size">Size in bytes when synced.</param>
/// <param name="MtimeTicks">Local last-write time (UTC ticks) when synced.</param>
/// <param name="Version">Remote version this path was last synced to.</param>
/// <param name="ContentHash">SHA-256 over the chunk ids (empty for folders).</param>
internal sealed record FileRecord(string Path, FileKind Kind, long Size, long MtimeTicks, ulong Version, byte[] ContentHash)
{
    /// <summary>
    /// The owner-executable bit of the synced version; null when unknown (rows from before the bit was kept): an unknown
    /// bit never makes a path changed, so an upgraded device sends no chmod-only version.
    /// </summary>
    public bool? Executable { get; init; }

    /// <summary>
    /// The file's inode change time (ns, <see cref="Local.FileChangeTime"/>) when its synced stamp was recorded; null
    /// when unknown (rows from before it was kept, systems without statx, a stamp recorded without a fresh stat). A
    /// known one that differs from the file's makes the file "possibly changed" (read once), never changed by itself.
    /// </summary>
    public long? ChangeTimeNs { get; init; }
}
