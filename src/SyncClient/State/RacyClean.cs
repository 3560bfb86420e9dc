using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.State;

/// <summary>
/// The "racy git" rule. After a commit the client takes a file whose size and mtime equal the db's as unchanged. That
/// only holds when the content was read once the mtime was older than the stable age: a write through a memory
/// mapping may not move the mtime, and a filesystem stamping whole (or even) seconds gives a same-size save within the
/// same second the same mtime. A record whose content was read earlier ("racily clean") is stored with its mtime
/// smudged (bitwise complement: negative, never a real mtime, and the real one is recoverable), so the db survives a
/// restart with the doubt intact: size and mtime never match it, every pass re-reads the file and compares its hash
/// with the synced one, and a read made once the mtime is old enough stores the plain mtime again.
/// </summary>
internal static class RacyClean
{
    /// <summary>The mtime to record for content read as <paramref name="fingerprint"/>: smudged when the read was racy.</summary>
    public static long Recorded(FileFingerprint fingerprint) => Recorded(fingerprint.MtimeTicks, fingerprint.Racy);

    /// <summary>The mtime to record: smudged when <paramref name="racy"/>.</summary>
    public static long Recorded(long mtimeTicks, bool racy) => racy ? ~mtimeTicks : mtimeTicks;

    /// <summary>True for a recorded mtime that was smudged (the content read was racily clean).</summary>
    public static bool IsSmudged(long recordedMtimeTicks) => recordedMtimeTicks < -1;
}
