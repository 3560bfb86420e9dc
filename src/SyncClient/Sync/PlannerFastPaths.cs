using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using static Dropbox.SyncClient.Sync.SyncPlanner;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The planner's rules for what need not be planned path by path, applied by the engine right after the scan so that
/// what a first sync or a quiet pass is mostly made of costs no more than a path and a size: plain new remote files
/// taken from the remote view as new downloads (<see cref="TakeNewDownloads"/>), the rule of a plain new local file the
/// scan keeps aside (<see cref="IsPlainNewFile"/>), and remote changes that only echo the synced state, dropped
/// (<see cref="DropEchoes"/>). Pure, as <see cref="SyncPlanner"/> is; what they take changes no other path's decision.
/// </summary>
internal static class PlannerFastPaths
{
    /// <summary>
    /// The plain new remote files (<see cref="SyncActionKind.DownloadNew"/>, each a path and a size), in listing order:
    /// live files the server has that this client never synced, with nothing at their path here, not moved, not
    /// refused, not ignored, not under a path that is a file on some side (a kind clash is the planner's to skip).
    /// They are removed from <paramref name="remote"/> (trimmed after), so a first sync of a large account holds no
    /// remote entry for them, and the rest of the plan is made without them: they change no other path's decision.
    /// </summary>
    public static List<SyncAction> TakeNewDownloads(Dictionary<string, RemoteEntry> remote, IReadOnlyDictionary<string, BaseStat> synced, LocalSnapshot local, IReadOnlySet<string> refused, IReadOnlyList<NewRemoteCaseClash>? caseClashes = null)
    {
        var clashPaths = caseClashes is { Count: > 0 } ? PlanInput.PathsOf(caseClashes) : null;
        var taken = new List<SyncAction>();
        foreach (var (path, entry) in remote)
        {
            if (entry is { Kind: FileKind.File, Deleted: false, MovedFrom: null, MovedTo: null }
                && !synced.ContainsKey(path) && !local.Entries.ContainsKey(path) && !local.IsWithheld(path) && !refused.Contains(path)
                && (clashPaths is null || !clashPaths.Contains(path))
                && !local.Ignore.IsIgnored(path, isDirectory: false) && !UnderAFile(path, remote, synced, local))
            {
                taken.Add(new SyncAction(SyncActionKind.DownloadNew, path) { Size = entry.Size });
            }
        }

        foreach (var a in taken)
        {
            remote.Remove(a.Path);
        }

        if (taken.Count > 0)
        {
            remote.TrimExcess();
        }

        return taken;
    }

    /// <summary>
    /// The planner's input preparation over the remote view: drops from <paramref name="remote"/> each change that only
    /// echoes the synced state (see <see cref="IsEcho"/>) of a path the scan found exactly as synced
    /// (<see cref="BaseStat.Clean"/>), e.g. this client's own upload coming back through the feed. Such a path has no
    /// entry in the snapshot and its record is not loaded, so with its echo the planner would see a remote path with no
    /// local or base side. Any other change (a delete, a move, another version) is kept. Returns how many were dropped.
    /// </summary>
    public static int DropEchoes(Dictionary<string, RemoteEntry> remote, IReadOnlyDictionary<string, BaseStat> synced)
    {
        var dropped = 0;
        foreach (var (path, entry) in remote)
        {
            if (synced.TryGetValue(path, out var stat) && stat.Clean && IsEcho(entry, stat))
            {
                remote.Remove(path); // allowed while enumerating (removal never invalidates a Dictionary's enumerator)
                dropped++;
            }
        }

        return dropped;
    }

    /// <summary>True when a remote change is the synced state itself (live, not moved, the synced version and content).</summary>
    public static bool IsEcho(RemoteEntry remote, BaseStat synced) =>
        !remote.Deleted && remote.MovedFrom is null && remote.MovedTo is null && synced.IsSyncedState(remote.Kind, remote.Version, remote.Size, remote.ContentHash);

    /// <summary>
    /// True when a folder above <paramref name="path"/> is a file on some side (here, in the synced tree or remotely):
    /// perhaps a kind clash, which the planner skips with everything under it (a download there could never make its
    /// folder, an upload there is refused).
    /// </summary>
    internal static bool UnderAFile(string path, IReadOnlyDictionary<string, RemoteEntry> remote, IReadOnlyDictionary<string, BaseStat> synced, LocalSnapshot? local)
    {
        for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
        {
            var parent = path[..slash];
            if ((remote.TryGetValue(parent, out var r) && r is { Deleted: false, Kind: FileKind.File })
                || (synced.TryGetValue(parent, out var b) && b.Kind == FileKind.File)
                || (local is not null && local.Entries.TryGetValue(parent, out var l) && l.Kind == FileKind.File))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The rule of a plain new local file, pure over the trees: a file here that was never synced, with no remote change
    /// or refusal at its path, of a size no tracked file has (so it cannot be the far end of a local move), not under a
    /// path that is a file in the synced tree or remotely (a kind clash is the planner's to skip), not differing only in
    /// case from a live remote name nor under a folder that does (the engine's case-conflict step renames those), and
    /// settled (the scan's observation <paramref name="settlesIn"/>: one that waits, see <see cref="SyncPlanner.Waits"/>, is planned
    /// path by path, and waits there). Such a file can only be uploaded as new, so its content is not read before the
    /// plan: the scan keeps a path, size and mtime for it (see <see cref="NewFiles"/>) and the plan holds them as one
    /// <see cref="SyncActionKind.UploadNew"/>.
    /// </summary>
    public static bool IsPlainNewFile(string path, FileKind kind, long size, TimeSpan? settlesIn, NewFileTrees trees) =>
        IsPlainNewFileObserving(path, kind, size, () => settlesIn, trees);

    /// <summary>
    /// <see cref="IsPlainNewFile(string, FileKind, long, TimeSpan?, NewFileTrees)"/> with the observation made only when
    /// the trees allow the file (a scan reads the clock only for a file it may take, and reads it then: a file written
    /// during a long scan would otherwise look stamped in the future).
    /// </summary>
    public static bool IsPlainNewFileObserving(string path, FileKind kind, long size, Func<TimeSpan?> observe, NewFileTrees trees) =>
        IsPlainNewFileByTrees(path, kind, size, trees) && !Waits(observe());

    /// <summary>
    /// <see cref="IsPlainNewFile"/> without the observation: a scan asks it first and observes (reads the clock) only for
    /// a file it takes.
    /// </summary>
    public static bool IsPlainNewFileByTrees(string path, FileKind kind, long size, NewFileTrees trees) =>
        kind == FileKind.File
        && !trees.Synced.ContainsKey(path) && !trees.Remote.ContainsKey(path) && !trees.Refused.Contains(path)
        && !trees.TrackedSizes.Contains(size)
        && !UnderAFile(path, trees.Remote, trees.Synced, null)
        && !IsRemoteFolderAbove(trees.RemoteFolds, path)
        && !ClashesRemotely(trees.RemoteFolds, trees.Synced, trees.Remote, path);
}
