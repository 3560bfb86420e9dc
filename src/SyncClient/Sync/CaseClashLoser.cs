using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// What the scan's loser of a case clash is, beyond its name (<see cref="LocalCaseRules"/> decides with it).
/// </summary>
internal static class CaseClashLoser
{
    /// <summary>
    /// A file found exactly as synced, by the planner's rule (<see cref="SyncPlanner.IsUnchanged(LocalEntry, BaseStat)"/>:
    /// size, mtime, executable bit and, where the platform gives it, ctime): nothing is writing it, whatever its mtime's
    /// age (a download sets the writer's mtime, often seconds old). The planner never waits for such a file; a
    /// case-conflict rename must not either.
    /// </summary>
    public static bool IsAsSynced(Dictionary<string, BaseStat> index, string path, string fullPath, bool readsExecutableBit) =>
        index.TryGetValue(path, out var stat) && AsSynced(stat, path, fullPath, readsExecutableBit) is not null;

    /// <summary>As <see cref="IsAsSynced(Dictionary{string, BaseStat}, string, string, bool)"/>, against the path's synced row <paramref name="stat"/>.</summary>
    public static bool IsAsSynced(BaseStat stat, string path, string fullPath, bool readsExecutableBit) => AsSynced(stat, path, fullPath, readsExecutableBit) is not null;

    /// <summary>
    /// The file at <paramref name="fullPath"/> as the scan lists it, when it is exactly as synced (see
    /// <see cref="IsAsSynced"/>); null when it changed (an edit with its size and mtime put back still moves the ctime),
    /// is not a regular file, or is gone. Where statx is unavailable (not Linux, or refused) the stat comes from
    /// <see cref="FileInfo"/> without a ctime, as the scan's own does there: by the same rule, it is as synced only against
    /// a row without a ctime. A row synced while statx worked has one, and statx failing for the file now (for a passing
    /// reason) must not let an edit with its size and mtime put back be followed into a remote delete: a clash to resolve,
    /// except for <see cref="FollowsServer"/>, which hands such a file to the planner to be read (its bytes decide).
    /// </summary>
    private static LocalEntry? AsSynced(BaseStat stat, string path, string fullPath, bool readsExecutableBit, bool unseenCtimeToRead = false)
    {
        if (stat.Kind != FileKind.File)
        {
            return null;
        }

        LocalEntry entry;
        if (FileChangeTime.TryStat(fullPath) is { } disk)
        {
            if (!disk.Exists || !disk.IsRegularFile)
            {
                return null;
            }

            entry = new LocalEntry(path, FileKind.File, disk.Size, disk.MtimeTicks, SettlesIn: null)
            {
                Executable = readsExecutableBit ? ExecutableBit.Of(disk.Permissions) : null,
                ChangeTimeNs = disk.CtimeNs,
            };
        }
        else
        {
            var info = new FileInfo(fullPath);
            if (!info.Exists || info.LinkTarget is not null || FileChangeTime.IsSpecial(fullPath)) // FileInfo calls a FIFO a file
            {
                return null;
            }

            entry = new LocalEntry(path, FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks, SettlesIn: null)
            {
                Executable = readsExecutableBit && !OperatingSystem.IsWindows() ? ExecutableBit.Of(info.UnixFileMode) : null,
            };
        }

        // unseenCtimeToRead: as synced but for a recorded ctime not seen (statx failing for it) is given to the planner as
        // seen, without a ctime: its rule (the same one) has the file read, and its bytes decide between following the
        // server (the synced content) and keeping an edit made with its size and mtime put back.
        return SyncPlanner.IsUnchanged(entry, stat) || (unseenCtimeToRead && entry.ChangeTimeNs is null && SyncPlanner.IsUnchanged(entry, stat with { ChangeTimeNs = 0 }))
            ? entry : null;
    }

    /// <summary>
    /// The entry of a losing file that follows the server instead of being renamed: found exactly as synced, and its
    /// server path deleted or moved away this pass to a name that is not a <c>(Case Conflict)</c> one (a move to one is
    /// followed by name, see <c>LocalCaseFacts.MovedAwayTo</c>). It lost only because the server no longer holds its name; renamed, it
    /// would be uploaded under the new name, bringing back what another device deleted or renamed (a rename of
    /// <c>X.txt</c> to <c>x.txt</c> there made every device with a new <c>x.txt</c> upload <c>X (Case Conflict).txt</c>),
    /// and withheld while young, its remote change was skipped and its stale row later outranked the name the server
    /// holds, which was then renamed on the server. Given back to the snapshot, the planner applies the delete or move to
    /// it as to any unchanged synced file. Null: a clash to resolve.
    /// </summary>
    public static LocalEntry? FollowsServer(Dictionary<string, BaseStat> index, IReadOnlyDictionary<string, RemoteEntry> remote, string path, string fullPath, bool readsExecutableBit) =>
        remote.TryGetValue(path, out var change) && change.Deleted
            && change.MovedTo?.Contains(CaseConflicts.CaseConflictMarker, StringComparison.Ordinal) != true
            && index.TryGetValue(path, out var stat)
            ? AsSynced(stat, path, fullPath, readsExecutableBit, unseenCtimeToRead: true)
            : null;
}
