using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using static Dropbox.SyncClient.Sync.SyncPlanner;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The planner's rules for a path that is a file on one side and a folder on another (here, in the merge base,
/// remotely), pure as <see cref="SyncPlanner"/> is, which calls them for each path. The remote side takes the path: a
/// file here leaves it for a remote folder (<see cref="DecideFileAgainstFolder"/>), a folder here for a remote file
/// (<see cref="DecideFolderAgainstFile"/>); any other clash is skipped with everything under it
/// (<see cref="IsKindClash"/>, <see cref="UnderKindClash"/>). The reasons they give are the planner's
/// (<see cref="SyncPlanner.KindClashReason"/> and those beside it), which the executor and the withheld paths read.
/// </summary>
internal static class KindConflictRules
{
    /// <summary>
    /// True when a folder above <paramref name="path"/> is a kind clash (what <see cref="SyncPlanner.DecideFolder"/> skips), or a file
    /// here against a remote folder (<see cref="FileAgainstRemoteFolder"/>) that does not leave its path this pass (one
    /// still being written, say): nothing can come down under it until it does. One in <paramref name="leaving"/> is
    /// moved first by the executor, so it holds nothing back.
    /// </summary>
    internal static bool UnderKindClash(PlanInput input, string path, IReadOnlySet<string> leaving)
    {
        for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
        {
            var parent = path[..slash];
            if (leaving.Contains(parent))
            {
                continue;
            }

            input.Local.Entries.TryGetValue(parent, out var local);
            input.Base.TryGetValue(parent, out var baseRecord);
            input.Remote.TryGetValue(parent, out var remote);
            if (IsKindClash(local, baseRecord, remote) || FileAgainstRemoteFolder(input, parent, local, baseRecord, remote))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A file here (new, or synced as a file) where the remote side now holds a folder: a live folder entry at the path,
    /// or live remote entries under it (the server then holds no live file there). Its upload would be refused and
    /// nothing under it could come down, pass after pass; so it leaves the path (<see cref="DecideFileAgainstFolder"/>).
    /// </summary>
    internal static bool FileAgainstRemoteFolder(PlanInput input, string path, LocalEntry? local, FileRecord? baseRecord, RemoteEntry? remote) =>
        local is { Kind: FileKind.File } && baseRecord is null or { Kind: FileKind.File }
        && remote is not { Deleted: false, Kind: FileKind.File }
        && (remote is { Deleted: false, Kind: FileKind.Folder } || input.RemoteFolders().Contains(path));

    /// <summary>
    /// A folder here where the remote side now holds a live file (the server then holds nothing live under it): a new
    /// folder, a synced one, or one that replaced a synced file here while the server's file changed too.
    /// </summary>
    internal static bool FolderAgainstRemoteFile(LocalEntry? local, RemoteEntry? remote) =>
        local is { Kind: FileKind.Folder } && remote is { Deleted: false, Kind: FileKind.File };

    /// <summary>
    /// A folder here against a remote file at its path (<see cref="FolderAgainstRemoteFile"/>): the remote side takes the
    /// path. The folder leaves it (<see cref="SyncPlanner.FolderAgainstFileReason"/>): the steps planned under it that clear it (the
    /// remote deletes of what is as synced) run first, what is left moves aside with it (see <see cref="SyncPlanner.Plan"/>). While
    /// anything in it is still being written or cannot be read, that file waits and the folder is skipped with it (<see cref="SyncPlanner.FolderWaitsReason"/>).
    /// </summary>
    internal static SyncAction DecideFolderAgainstFile(PlanInput input, string path, LocalEntry local, FileRecord? baseRecord, RemoteEntry remote)
    {
        var prefix = path + "/";

        // The folder itself (or one above it) listed but unreadable: what is in it is unknown; it waits, its remote change
        // remembered. What the scan withholds inside a readable folder (a link, a name it cannot take) moves aside with
        // the folder: never synced, it would hold the folder for good.
        if (input.Local.IsWithheld(path))
        {
            return new SyncAction(SyncActionKind.Skip, path) { Reason = FolderWaitsReason, Remote = remote };
        }

        foreach (var (under, entry) in input.Local.Entries)
        {
            if (!under.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            // The file waits (see Plan), the folder with it: skipped with its remote change, which is remembered.
            if (entry.Kind == FileKind.File && (WaitsAsChanged(entry, input.Base.GetValueOrDefault(under)) || input.Unreadable.ContainsKey(under)))
            {
                return new SyncAction(SyncActionKind.Skip, path) { Reason = FolderWaitsReason, Remote = remote };
            }
        }

        return new SyncAction(SyncActionKind.KindConflict, path) { Local = local, Base = baseRecord, Remote = remote, Reason = FolderAgainstFileReason };
    }

    /// <summary>
    /// A file here against a remote folder at its path (<see cref="FileAgainstRemoteFolder"/>): the remote side takes the
    /// path, as it does for a file edited on both sides. A file as synced goes as a remote delete's would
    /// (<see cref="SyncPlanner.ReplacedByFolderReason"/>); a changed or new one is kept as a conflicted copy and uploaded
    /// (<see cref="SyncPlanner.FileAgainstFolderReason"/>). One still being written, unreadable or changed while read waits, and
    /// what is under it waits with it (<see cref="UnderKindClash"/>).
    /// </summary>
    internal static SyncAction DecideFileAgainstFolder(PlanInput input, string path, LocalEntry local, FileRecord? baseRecord, RemoteEntry? remote)
    {
        FileFingerprint? fingerprint = null;
        bool changed;
        if (IsUnchanged(local, baseRecord))
        {
            changed = false;
        }
        else if (Waits(local.SettlesIn))
        {
            return Wait(local, baseRecord, remote);
        }
        else if (input.Fingerprints.TryGetValue(path, out fingerprint))
        {
            changed = baseRecord is null || !fingerprint.ContentHash.AsSpan().SequenceEqual(baseRecord.ContentHash) || ExecutableBit.Differs(fingerprint.Executable, baseRecord.Executable);
        }
        else if (input.Unreadable.TryGetValue(path, out var unreadable))
        {
            return WaitToRead(path, baseRecord, remote, unreadable);
        }
        else
        {
            return new SyncAction(SyncActionKind.Skip, path) { Reason = ChangingReason };
        }

        return new SyncAction(SyncActionKind.KindConflict, path)
        {
            Local = local, Fingerprint = fingerprint, Base = baseRecord, Remote = remote, BaseVersion = baseRecord?.Version ?? 0,
            Reason = changed ? FileAgainstFolderReason : ReplacedByFolderReason,
        };
    }

    /// <summary>
    /// A remote file at a folder here that holds the client's state directory (<see cref="PlanInput.FilesAboveStateDirectory"/>):
    /// a file against a folder where, unlike <see cref="DecideFolderAgainstFile"/>, the folder cannot leave its path (the
    /// db, its lock and the trash are in it). So the file leaves it, on the server (<see cref="SyncPlanner.StateFolderAgainstFileReason"/>):
    /// kept whole as a conflicted copy every device sees, after which what lies beside the state directory goes up as
    /// usual (the executor runs it before any upload). A name the ignore rules exclude here is left alone on both sides,
    /// and so is a file whose folder here holds nothing of the user's that would go up (only the state directory, which
    /// never does): the other device's file stays where it is, not taken here, until something needs the folder.
    /// </summary>
    internal static void MoveAsideAboveStateDirectory(PlanInput input, List<SyncAction> actions)
    {
        if (input.FilesAboveStateDirectory.Count == 0)
        {
            return;
        }

        var newFiles = input.NewLocal?.ByPath();
        foreach (var (path, remote) in input.FilesAboveStateDirectory)
        {
            if (!input.Local.Ignore.IsIgnored(path, isDirectory: true) && !input.Local.Ignore.IsIgnored(path, isDirectory: false)
                && NeedsFolder(input, newFiles, path + "/"))
            {
                actions.Add(new SyncAction(SyncActionKind.KindConflict, path) { Remote = remote, BaseVersion = remote.Version, Reason = StateFolderAgainstFileReason });
            }
        }
    }

    /// <summary>
    /// Something under <paramref name="prefix"/> here that would go up or is up already: a file, an empty folder (the scan
    /// never lists the state directory, and a folder that holds only it is not empty), or a synced path.
    /// </summary>
    private static bool NeedsFolder(PlanInput input, Dictionary<string, (long Size, long MtimeTicks)>? newFiles, string prefix) =>
        input.Local.Entries.Values.Any(e => e.Kind == FileKind.File && e.Path.StartsWith(prefix, StringComparison.Ordinal))
        || input.StateParentsHoldingSynced.Contains(prefix[..^1])
        || input.Base.Keys.Any(p => p.StartsWith(prefix, StringComparison.Ordinal))
        || input.Local.EmptyFolders.Any(f => f.StartsWith(prefix, StringComparison.Ordinal))
        || (newFiles?.Keys.Any(f => f.StartsWith(prefix, StringComparison.Ordinal)) ?? false);

    /// <summary>A file on one side (or in the merge base) and a folder on another, except a kind replaced remotely where the path is gone here.</summary>
    internal static bool IsKindClash(LocalEntry? local, FileRecord? baseRecord, RemoteEntry? remote)
    {
        var folder = local?.Kind == FileKind.Folder || baseRecord?.Kind == FileKind.Folder || remote is { Deleted: false, Kind: FileKind.Folder };
        var file = local?.Kind == FileKind.File || baseRecord?.Kind == FileKind.File || remote is { Deleted: false, Kind: FileKind.File };
        return folder && file && !ReplacedRemotely(local, baseRecord, remote) && !BaseKindOnly(local, baseRecord, remote);
    }

    /// <summary>
    /// Here, of another kind than the db row, and remotely either of the same kind as here or deleted: only the merge
    /// base disagrees, so nothing clashes.
    /// </summary>
    internal static bool BaseKindOnly(LocalEntry? local, FileRecord? baseRecord, RemoteEntry? remote) =>
        local is not null && baseRecord is not null && baseRecord.Kind != local.Kind
        && remote is not null && (remote.Deleted || remote.Kind == local.Kind);

    /// <summary>Gone here, and replaced remotely by the other kind (a file by a folder or a folder by a file).</summary>
    internal static bool ReplacedRemotely(LocalEntry? local, FileRecord? baseRecord, RemoteEntry? remote) =>
        local is null && baseRecord is not null && remote is { Deleted: false } && remote.Kind != baseRecord.Kind;
}
