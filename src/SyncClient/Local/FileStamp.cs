using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// The "unchanged" test: a file whose size and last-write time (UTC ticks) are as they were is taken as unchanged,
/// without reading it (the racy-clean rule and the ctime check guard the cases where that is not enough). Every such
/// comparison in the client is <c>FileStamp.Of(a) == FileStamp.Of(b)</c>, so what "unchanged" means lives here.
/// The executable bit is compared beside it where a chmod alone matters.
/// </summary>
/// <param name="Size">Size in bytes.</param>
/// <param name="MtimeTicks">Last-write time, UTC ticks.</param>
internal readonly record struct FileStamp(long Size, long MtimeTicks)
{
    /// <summary>The stamp a scan found.</summary>
    public static FileStamp Of(LocalEntry entry) => new(entry.Size, entry.MtimeTicks);

    /// <summary>The stamp the content was read under.</summary>
    public static FileStamp Of(FileFingerprint fingerprint) => new(fingerprint.Size, fingerprint.MtimeTicks);

    /// <summary>The stamp recorded when synced.</summary>
    public static FileStamp Of(FileRecord record) => new(record.Size, record.MtimeTicks);

    /// <summary>The stamp recorded when synced (the pass's small per-path form).</summary>
    public static FileStamp Of(BaseStat stat) => new(stat.Size, stat.MtimeTicks);

    /// <summary>
    /// True when a file whose size and mtime are as recorded may still have been written since: its inode change time
    /// (<see cref="FileChangeTime"/>, which a write, truncate, chmod or rename moves and no writer can set back) is known
    /// both as recorded and as seen now, and differs (an in-place same-size edit with its mtime put back). Never a
    /// decision by itself: such a file is read, and its bytes decide. An unknown one on either side (0 or null) says
    /// nothing, and the size and mtime decide as before.
    /// </summary>
    public static bool ChangeTimeMoved(long? recordedNs, long? seenNs) =>
        recordedNs is { } recorded && recorded != 0 && seenNs is { } seen && seen != recorded;

    /// <summary>
    /// True when the ctime lets a file whose size and mtime are as recorded count as unchanged without a read: none was
    /// recorded (0 or null: the size and mtime decide, as for a row from before ctimes were kept, or from a system
    /// without statx), or the one seen now is exactly it. Stricter than <see cref="ChangeTimeMoved"/>: a recorded one
    /// against one not seen (statx failed for this file, for a passing reason or from now on) does not vouch, since an
    /// edit with its size and mtime put back would pass unseen; such a file is read once, and its bytes decide. A file
    /// last read without a ctime (<see cref="FileChangeTime.ReadWithout"/> recorded) counts as unchanged while none is
    /// seen, and is read once a real one is.
    /// </summary>
    public static bool ChangeTimeAsRecorded(long? recordedNs, long? seenNs) =>
        recordedNs is not { } recorded || recorded == 0 || seenNs == recorded || (recorded == FileChangeTime.ReadWithout && seenNs is null);

    /// <summary>The stamp of a file as it is now (the caller has checked it exists).</summary>
    public static FileStamp Of(FileInfo info) => new(info.Length, info.LastWriteTimeUtc.Ticks);
}
