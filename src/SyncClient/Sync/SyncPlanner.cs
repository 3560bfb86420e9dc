using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Three-way decisions per path with the db as merge base: pure (no I/O), so every case is unit-tested.
/// Local renames are found by content (size + content hash) and become moves; remote moves of files
/// unchanged locally become local renames. A path the ignore rules exclude is left alone on both sides.
/// </summary>
internal static partial class SyncPlanner
{
    /// <summary>
    /// Reason of a wait for a changed file that is still being written (<see cref="Waits"/>), and of a skip for one that
    /// changed between the scan and its read (its content could not be read as scanned: the next pass judges it afresh).
    /// </summary>
    public const string ChangingReason = "the file is changing; it syncs once it is stable";

    /// <summary>Reason of a skip for a remote change to a path the scan found but could not take.</summary>
    public const string WithheldReason = "present here but not readable as a synced path (case clash, unreadable folder or link); left alone on both sides";

    /// <summary>Reason of a skip for a path that is a file on one side and a folder on the other.</summary>
    public const string KindClashReason = "a file on one side and a folder on the other; rename one of them";

    /// <summary>
    /// Reason of a <see cref="SyncActionKind.KindConflict"/> for a file here that changed (or is new) where the remote side
    /// now holds a folder: it moves aside to a conflicted copy (uploaded as new) and the folder comes down at its path.
    /// </summary>
    public const string FileAgainstFolderReason = "a file here (changed or new) and a folder remotely at one path: the file is kept as a conflicted copy, the folder takes the path";

    /// <summary>
    /// Reason of a <see cref="SyncActionKind.KindConflict"/> for a file here still as synced where the remote side replaced
    /// it with a folder: it is deleted here (to the trash, as any remote delete; moved aside instead should it have changed
    /// since the plan) and the folder comes down at its path.
    /// </summary>
    public const string ReplacedByFolderReason = "a file here as synced, replaced remotely by a folder: deleted here (to the trash), the folder takes the path";

    /// <summary>
    /// Reason of a <see cref="SyncActionKind.KindConflict"/> for a folder here where the remote side now holds a file: what
    /// in it is as synced goes as the remote deletes say, whatever is left (changed or new) moves aside with the folder to
    /// a conflicted copy (sent as new files), and the file comes down at its path.
    /// </summary>
    public const string FolderAgainstFileReason = "a folder here and a file remotely at one path: what is left in the folder is kept as a conflicted copy, the file takes the path";

    /// <summary>
    /// Reason of a skip for a folder here where the remote side has a file (<see cref="FolderAgainstFileReason"/>) while
    /// something in it is still being written or cannot be read: that file waits, and the folder with it.
    /// </summary>
    public const string FolderWaitsReason = "a folder here and a file remotely at one path: waits for what in it is still being written (or cannot be read), then what is left in it is kept as a conflicted copy";

    /// <summary>
    /// Reason of a <see cref="SyncActionKind.KindConflict"/> for a synced file replaced here by a folder while the server's
    /// file did not change: the file is deleted on the server before anything of the pass is uploaded under the path.
    /// </summary>
    public const string ReplacedHereByFolderReason = "a synced file replaced here by a folder: the file is deleted on the server first, then the folder's files go up";

    /// <summary>Reason of a skip for a path under a kind clash (a folder on one side that is a file on the other).</summary>
    public const string UnderKindClashReason = "under a folder that is a file on the other side; syncs once one of them is renamed";

    /// <summary>Reason of a skip for a remote change to a path the local ignore rules exclude.</summary>
    public const string IgnoredReason = "ignored here by a .dropboxignore or built-in rule; the remote change is not applied";

    public static List<SyncAction> Plan(PlanInput input)
    {
        var actions = new List<SyncAction>();
        input = PlanNewDownloads(input, actions);
        var handled = new HashSet<string>(StringComparer.Ordinal);
        PlanRemoteMoves(input, actions, handled);

        // Files here that leave their path this pass for a remote folder (KindConflict): what comes down under them is
        // planned as usual (the executor moves them first). Planned before what is under them (ordinal order).
        var leaving = new HashSet<string>(StringComparer.Ordinal);
        // Of those, the folders here that leave for a remote file (FolderAgainstFileReason): only what clears them runs under them.
        var clearing = new HashSet<string>(StringComparer.Ordinal);
        // Folders here against a remote file that wait for a file in them (FolderWaitsReason).
        var waiting = new HashSet<string>(StringComparer.Ordinal);

        var paths = new SortedSet<string>(StringComparer.Ordinal);
        paths.UnionWith(input.Local.Entries.Keys);
        paths.UnionWith(input.Base.Keys);
        paths.UnionWith(input.Remote.Keys);
        foreach (var path in paths)
        {
            if (handled.Contains(path))
            {
                continue;
            }

            input.Local.Entries.TryGetValue(path, out var local);
            input.Base.TryGetValue(path, out var baseRecord);
            input.Remote.TryGetValue(path, out var remote);
            // Absent here but not deleted: a path the scan could not take (case clash, unreadable folder, symbolic
            // link) or one the ignore rules exclude. Never deleted on either side (its db row stays, so a later pass
            // compares against the same merge base), never downloaded over; a remote change to it is reported.
            var leftAlone = local is not null ? null
                : input.Local.IsWithheld(path) ? WithheldReason
                : input.Local.Ignore.IsIgnored(path, baseRecord?.Kind == FileKind.Folder || remote?.Kind == FileKind.Folder) ? IgnoredReason
                : null;
            if (leftAlone is not null)
            {
                if (RemoteChanged(remote, baseRecord))
                {
                    actions.Add(new SyncAction(SyncActionKind.Skip, path) { Reason = leftAlone });
                }

                continue;
            }

            // Under a path that is a file on one side and a folder on the other (itself skipped): a download there
            // cannot create its folder and an upload there is refused, every pass; skip it with the clash.
            if (UnderKindClash(input, path, leaving))
            {
                // A file being written (or unreadable) in a folder that leaves for a remote file once it settles waits
                // (the folder waits for it); anything else under a clash is skipped with it.
                actions.Add(local is { Kind: FileKind.File } && waiting.Count > 0 && IsUnder(path, waiting) && WaitsAsChanged(local, baseRecord) ? Wait(local, baseRecord, remote)
                    : local is { Kind: FileKind.File } && waiting.Count > 0 && IsUnder(path, waiting) && input.Unreadable.TryGetValue(path, out var unreadable) ? WaitToRead(path, baseRecord, remote, unreadable)
                    : new SyncAction(SyncActionKind.Skip, path) { Reason = UnderKindClashReason, Remote = remote });
                continue;
            }

            var action = Decide(input, path, local, baseRecord, remote);
            if (action is not null && clearing.Count > 0 && IsUnder(path, clearing))
            {
                // Under a folder that leaves for a remote file: only what clears it runs (deletes of what is as synced);
                // anything else stays in the folder, moved aside with it, and its row goes.
                action = action.Kind is SyncActionKind.DeleteLocal or SyncActionKind.DeleteLocalFolder or SyncActionKind.Forget ? action
                    : baseRecord is not null ? new SyncAction(SyncActionKind.Forget, path) { Base = baseRecord }
                    : null;
            }

            if (action is not null)
            {
                actions.Add(action);
                if (action.Kind == SyncActionKind.KindConflict)
                {
                    leaving.Add(path);
                    if (action.Reason == FolderAgainstFileReason)
                    {
                        clearing.Add(path);
                    }
                }
                else if (action.Reason == FolderWaitsReason)
                {
                    waiting.Add(path);
                }
            }
        }

        var plan = DetectLocalMoves(actions);
        if (input.NewLocal is { Count: > 0 } newLocal)
        {
            // None can be a move's far end (no tracked file has its size) or touch a planned path (none is in another view).
            plan.Add(new SyncAction(SyncActionKind.UploadNew, string.Empty) { NewFiles = newLocal });
        }

        if (input.Guard is { } guard && HoldDeletes(plan, guard) is { } held)
        {
            return [new SyncAction(SyncActionKind.Hold, string.Empty) { Held = held, Reason = held.Reason.ToString() }];
        }

        // Taken before the plan (they touch no planned path), emitted here so that the plan is the pass's whole work.
        plan.AddRange(input.NewRemote);
        plan.AddRange(input.CaseWaits);
        return plan;
    }

    /// <summary>
    /// With <see cref="PlanInput.Synced"/> (a caller that did not take them first): the plain new remote files, planned
    /// over a copy of the remote view so the input is left as given. The engine takes them with
    /// <see cref="TakeNewDownloads"/> right after the scan instead, so they never cost more than a path and a size.
    /// </summary>
    private static PlanInput PlanNewDownloads(PlanInput input, List<SyncAction> actions)
    {
        if (input.Synced is not { } synced)
        {
            return input;
        }

        var remote = new Dictionary<string, RemoteEntry>(input.Remote, StringComparer.Ordinal);
        actions.AddRange(TakeNewDownloads(remote, synced, input.Local, input.Refused));
        return input with { Remote = remote, Synced = null };
    }

    /// <summary>
    /// The plain new remote files (<see cref="SyncActionKind.DownloadNew"/>, each a path and a size), in listing order:
    /// live files the server has that this client never synced, with nothing at their path here, not moved, not
    /// refused, not ignored, not under a path that is a file on some side (a kind clash is the planner's to skip).
    /// They are removed from <paramref name="remote"/> (trimmed after), so a first sync of a large account holds no
    /// remote entry for them, and the rest of the plan is made without them: they change no other path's decision.
    /// </summary>
    public static List<SyncAction> TakeNewDownloads(Dictionary<string, RemoteEntry> remote, IReadOnlyDictionary<string, BaseStat> synced, LocalSnapshot local, IReadOnlySet<string> refused)
    {
        var taken = new List<SyncAction>();
        foreach (var (path, entry) in remote)
        {
            if (entry is { Kind: FileKind.File, Deleted: false, MovedFrom: null, MovedTo: null }
                && !synced.ContainsKey(path) && !local.Entries.ContainsKey(path) && !local.IsWithheld(path) && !refused.Contains(path)
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
    /// settled (the scan's observation <paramref name="settlesIn"/>: one that waits, see <see cref="Waits"/>, is planned
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

    /// <summary>
    /// True when <paramref name="path"/>, which has no remote entry of its own this pass, is a folder above live remote
    /// entries (the folded names hold it spelled exactly so): a file here at that path is the planner's to decide (see
    /// <see cref="FileAgainstRemoteFolder"/>), never a plain new file (its upload would be refused, pass after pass).
    /// </summary>
    private static bool IsRemoteFolderAbove(IReadOnlyDictionary<string, string>? folds, string path) =>
        folds is not null && folds.TryGetValue(SyncPaths.CaseFoldKey(path), out var other) && other == path;

    /// <summary>True when <paramref name="folder"/> is synced here: its own entry, or anything under it.</summary>
    private static bool IsTracked(IReadOnlyDictionary<string, BaseStat> index, string folder) =>
        index.ContainsKey(folder) || index.Keys.Any(k => k.Length > folder.Length && k[folder.Length] == '/' && k.StartsWith(folder, StringComparison.Ordinal));

    /// <summary>
    /// The case-folded paths of the live remote entries this pass holds, and of the folders above them (a folder the
    /// server has no entry of its own for is still a name a local folder can clash with); null when none.
    /// </summary>
    internal static Dictionary<string, string>? RemoteFolds(IEnumerable<KeyValuePair<string, RemoteEntry>> entries)
    {
        Dictionary<string, string>? folds = null;
        HashSet<string>? folders = null;
        foreach (var (path, entry) in entries)
        {
            if (!entry.Deleted)
            {
                folds ??= new Dictionary<string, string>(StringComparer.Ordinal);
                folds[SyncPaths.CaseFoldKey(path)] = path;
                // Parents from the nearest up, each folder once (a first sync lists many files per folder): a folder
                // seen before had its own parents added then.
                folders ??= new HashSet<string>(StringComparer.Ordinal);
                var seen = folders.GetAlternateLookup<ReadOnlySpan<char>>();
                for (var slash = path.LastIndexOf('/'); slash > 0 && !seen.Contains(path.AsSpan(0, slash)); slash = path.LastIndexOf('/', slash - 1))
                {
                    var folder = path[..slash];
                    folders.Add(folder);
                    folds.TryAdd(SyncPaths.CaseFoldKey(folder), folder);
                }
            }
        }

        return folds;
    }

    /// <summary>
    /// The topmost folder above <paramref name="path"/> that is not synced here and differs only in case from a remote
    /// folder of this pass (one with an entry or only files under it), or null: its new files would be uploaded beside
    /// the remote folder under a second spelling of its name.
    /// </summary>
    internal static string? ClashingFolder(IReadOnlyDictionary<string, string>? folds, IReadOnlyDictionary<string, BaseStat> index, string path)
    {
        if (folds is null)
        {
            return null;
        }

        for (var slash = path.IndexOf('/'); slash > 0; slash = path.IndexOf('/', slash + 1))
        {
            var folder = path[..slash];
            if (folds.TryGetValue(SyncPaths.CaseFoldKey(folder), out var other) && other != folder && !IsTracked(index, folder))
            {
                return folder;
            }
        }

        return null;
    }

    /// <summary>
    /// True when a local path would become a new path on the server (not synced, or synced but deleted or moved away
    /// remotely) while the server has a live path this pass that differs from it only in case.
    /// </summary>
    internal static bool ClashesRemotely(IReadOnlyDictionary<string, string>? folds, IReadOnlyDictionary<string, BaseStat> index, IReadOnlyDictionary<string, RemoteEntry> remote, string path)
    {
        if (ClashingFolder(folds, index, path) is not null)
        {
            return true; // renamed with its folder (see CaseConflicts.Resolve), never a plain new file
        }

        if (folds is null || !folds.TryGetValue(SyncPaths.CaseFoldKey(path), out var other) || other == path)
        {
            return false;
        }

        return !index.ContainsKey(path) || (remote.TryGetValue(path, out var own) && own.Deleted);
    }

    private static SyncAction? Decide(PlanInput input, string path, LocalEntry? local, FileRecord? baseRecord, RemoteEntry? remote)
    {
        if (ReplacedRemotely(local, baseRecord, remote))
        {
            // Deleted here, replaced by the other kind remotely: the remote side wins, as a remote edit of a file
            // deleted here does (else the folder's delete would be refused remotely, pass after pass).
            return remote!.Kind == FileKind.Folder
                ? new SyncAction(SyncActionKind.CreateLocalFolder, path) { Remote = remote }
                : new SyncAction(SyncActionKind.Download, path) { Remote = remote, Base = baseRecord, BaseVersion = baseRecord!.Version };
        }

        if (FileAgainstRemoteFolder(input, path, local, baseRecord, remote))
        {
            return DecideFileAgainstFolder(input, path, local!, baseRecord, remote);
        }

        if (local is { Kind: FileKind.Folder } && baseRecord is { Kind: FileKind.File } && input.Local.IsWithheld(path))
        {
            // A synced file replaced here by a folder the scan lists but cannot read (or under one it cannot): its remote
            // change (skipped while it is withheld) may be unknown this pass, so the server's file is not deleted on the
            // word of this pass's listing. What the scan withholds inside a readable folder (a link, a name it cannot
            // take) does not hold it: those are never synced, and would hold the folder for good.
            return new SyncAction(SyncActionKind.Skip, path) { Reason = WithheldReason, Remote = remote };
        }

        if (local is { Kind: FileKind.Folder } && baseRecord is { Kind: FileKind.File } && (remote is null || (remote is { Deleted: false, Kind: FileKind.File } && remote.Version == baseRecord.Version)))
        {
            // A synced file replaced here by a folder, the server's file unchanged: the file is deleted there first (a
            // delete refused for a remote edit keeps it, and the next pass meets it as a conflict), then what is in the
            // folder goes up as usual.
            return new SyncAction(SyncActionKind.KindConflict, path) { Local = local, Base = baseRecord, BaseVersion = baseRecord.Version, Reason = ReplacedHereByFolderReason };
        }

        if (FolderAgainstRemoteFile(local, remote))
        {
            return DecideFolderAgainstFile(input, path, local!, baseRecord, remote!);
        }

        if (BaseKindOnly(local, baseRecord, remote))
        {
            // Only the db row disagrees (the type changed the same way on both sides, or here while the remote side
            // deleted the path): decide as if never synced, so the row is rewritten with what the sides hold now
            // (a skip would leave that row, and with it the path and everything under it, clashing for good).
            if (local!.Kind == FileKind.Folder)
            {
                return remote is { Deleted: false }
                    ? new SyncAction(SyncActionKind.CreateLocalFolder, path) { Remote = remote }
                    : new SyncAction(SyncActionKind.CreateRemoteFolder, path);
            }

            baseRecord = null;
            if (remote is { Deleted: true })
            {
                remote = null;
            }
        }

        var isFolder = local?.Kind == FileKind.Folder || baseRecord?.Kind == FileKind.Folder || (remote is { Deleted: false, Kind: FileKind.Folder });
        if (isFolder)
        {
            return DecideFolder(input, path, local, baseRecord, remote);
        }

        // Local side: is it changed against the base, and what is its content?
        FileFingerprint? fingerprint = null;
        byte[]? localHash = null;
        if (local is not null)
        {
            if (IsUnchanged(local, baseRecord))
            {
                localHash = baseRecord!.ContentHash;
            }
            else if (Waits(local.SettlesIn))
            {
                return Wait(local, baseRecord, remote); // whatever was read of it: bytes still moving are never acted on
            }
            else if (input.Fingerprints.TryGetValue(path, out fingerprint))
            {
                localHash = fingerprint.ContentHash;
            }
            else if (input.Unreadable.TryGetValue(path, out var unreadable))
            {
                return WaitToRead(path, baseRecord, remote, unreadable); // changed or not, nobody knows: nothing is done to it
            }
            else
            {
                return new SyncAction(SyncActionKind.Skip, path) { Reason = ChangingReason };
            }
        }

        var localChanged = local is null
            ? baseRecord is not null
            : baseRecord is null || !localHash!.AsSpan().SequenceEqual(baseRecord.ContentHash) || ExecutableBit.Differs(fingerprint is null ? local.Executable : fingerprint.Executable, baseRecord.Executable);
        var remoteChanged = RemoteChanged(remote, baseRecord);
        var baseVersion = baseRecord?.Version ?? 0;
        if (WentBack(remote, baseRecord))
        {
            return KeepNewer(path, local, localHash, fingerprint, baseRecord!, remote!);
        }

        if (!localChanged && !remoteChanged)
        {
            if (local is not null && baseRecord is not null && fingerprint is not null)
            {
                return new SyncAction(SyncActionKind.Touch, path) { Local = local, Fingerprint = fingerprint, Base = baseRecord };
            }

            return null;
        }

        if (localChanged && !remoteChanged)
        {
            if (local is null && input.RenamedToUnnamable(baseRecord!))
            {
                return new SyncAction(SyncActionKind.Skip, path) { Reason = UnnamableReason, Base = baseRecord };
            }

            return local is not null
                ? new SyncAction(SyncActionKind.Upload, path) { Local = local, Fingerprint = fingerprint, BaseVersion = baseVersion, Base = baseRecord }
                : new SyncAction(SyncActionKind.DeleteRemote, path) { BaseVersion = baseVersion, Base = baseRecord };
        }

        if (!localChanged && remoteChanged)
        {
            if (remote!.Deleted)
            {
                return local is not null
                    ? new SyncAction(SyncActionKind.DeleteLocal, path) { Local = local, Remote = remote, Base = baseRecord, Fingerprint = fingerprint }
                    : new SyncAction(SyncActionKind.Forget, path) { Base = baseRecord };
            }

            return new SyncAction(SyncActionKind.Download, path) { Local = local, Remote = remote, Base = baseRecord, BaseVersion = baseVersion, Fingerprint = fingerprint };
        }

        // Both changed.
        if (local is null)
        {
            return remote!.Deleted
                ? new SyncAction(SyncActionKind.Forget, path) { Base = baseRecord }
                : new SyncAction(SyncActionKind.Download, path) { Remote = remote, Base = baseRecord, BaseVersion = baseVersion };
        }

        if (remote!.Deleted)
        {
            // Never lose a local edit to a remote delete: upload it again as a new file.
            return new SyncAction(SyncActionKind.Upload, path) { Local = local, Fingerprint = fingerprint, BaseVersion = 0, Base = baseRecord, Reason = "edited here, deleted remotely: kept" };
        }

        if (localHash!.AsSpan().SequenceEqual(remote.ContentHash))
        {
            return new SyncAction(SyncActionKind.Record, path) { Local = local, Fingerprint = fingerprint, Remote = remote, Base = baseRecord };
        }

        return new SyncAction(SyncActionKind.Conflict, path) { Local = local, Fingerprint = fingerprint, Remote = remote, Base = baseRecord, BaseVersion = baseVersion };
    }

    private static SyncAction? DecideFolder(PlanInput input, string path, LocalEntry? local, FileRecord? baseRecord, RemoteEntry? remote)
    {
        if (IsKindClash(local, baseRecord, remote))
        {
            return new SyncAction(SyncActionKind.Skip, path) { Reason = KindClashReason, Remote = remote };
        }

        var remoteFolder = remote is { Deleted: false };
        var remoteDeleted = remote is { Deleted: true } && baseRecord is not null;
        if (local is not null)
        {
            if (baseRecord is null)
            {
                if (remoteFolder)
                {
                    return new SyncAction(SyncActionKind.CreateLocalFolder, path) { Remote = remote };
                }

                return input.Local.EmptyFolders.Contains(path) ? new SyncAction(SyncActionKind.CreateRemoteFolder, path) : null;
            }

            return remoteDeleted ? new SyncAction(SyncActionKind.DeleteLocalFolder, path) { Base = baseRecord, Remote = remote } : null;
        }

        if (baseRecord is null)
        {
            return remoteFolder ? new SyncAction(SyncActionKind.CreateLocalFolder, path) { Remote = remote } : null;
        }

        if (remoteDeleted)
        {
            return new SyncAction(SyncActionKind.Forget, path) { Base = baseRecord };
        }

        if (remoteFolder && remote!.Version != baseRecord.Version)
        {
            return new SyncAction(SyncActionKind.CreateLocalFolder, path) { Remote = remote };
        }

        return HoldsRenamedToUnnamable(input, path)
            ? new SyncAction(SyncActionKind.Skip, path) { Reason = UnnamableReason, Base = baseRecord }
            : new SyncAction(SyncActionKind.DeleteRemoteFolder, path) { Base = baseRecord, BaseVersion = baseRecord.Version };
    }

    /// <summary>Why a synced path gone from here is not deleted on the server (see <see cref="PlanInput.RenamedToUnnamable"/>).</summary>
    internal const string UnnamableReason = "gone from here, and a file with its size and time is withheld under a name no path reaches (decomposed Unicode; see the other skipped names): most likely renamed to it, so it is not deleted on the server until that name is renamed";

    /// <summary>True when a synced file under the gone folder <paramref name="path"/> is held by <see cref="PlanInput.RenamedToUnnamable"/>.</summary>
    private static bool HoldsRenamedToUnnamable(PlanInput input, string path) =>
        input.Local.Unnamable.Count > 0 && input.FoldersHoldingRenamedToUnnamable().Contains(path);

    /// <summary>
    /// True when a folder above <paramref name="path"/> is a kind clash (what <see cref="DecideFolder"/> skips), or a file
    /// here against a remote folder (<see cref="FileAgainstRemoteFolder"/>) that does not leave its path this pass (one
    /// still being written, say): nothing can come down under it until it does. One in <paramref name="leaving"/> is
    /// moved first by the executor, so it holds nothing back.
    /// </summary>
    private static bool UnderKindClash(PlanInput input, string path, IReadOnlySet<string> leaving)
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
    private static bool FileAgainstRemoteFolder(PlanInput input, string path, LocalEntry? local, FileRecord? baseRecord, RemoteEntry? remote) =>
        local is { Kind: FileKind.File } && baseRecord is null or { Kind: FileKind.File }
        && remote is not { Deleted: false, Kind: FileKind.File }
        && (remote is { Deleted: false, Kind: FileKind.Folder } || input.RemoteFolders().Contains(path));

    /// <summary>
    /// A folder here where the remote side now holds a live file (the server then holds nothing live under it): a new
    /// folder, a synced one, or one that replaced a synced file here while the server's file changed too.
    /// </summary>
    private static bool FolderAgainstRemoteFile(LocalEntry? local, RemoteEntry? remote) =>
        local is { Kind: FileKind.Folder } && remote is { Deleted: false, Kind: FileKind.File };

    /// <summary>
    /// A folder here against a remote file at its path (<see cref="FolderAgainstRemoteFile"/>): the remote side takes the
    /// path. The folder leaves it (<see cref="FolderAgainstFileReason"/>): the steps planned under it that clear it (the
    /// remote deletes of what is as synced) run first, what is left moves aside with it (see <see cref="Plan"/>). While
    /// anything in it is still being written or cannot be read, that file waits and the folder is skipped with it (<see cref="FolderWaitsReason"/>).
    /// </summary>
    private static SyncAction DecideFolderAgainstFile(PlanInput input, string path, LocalEntry local, FileRecord? baseRecord, RemoteEntry remote)
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

    /// <summary>True when a scanned file changed against the merge base and was observed unsettled (what <see cref="Decide"/> waits for).</summary>
    private static bool WaitsAsChanged(LocalEntry local, FileRecord? baseRecord) => !IsUnchanged(local, baseRecord) && Waits(local.SettlesIn);

    /// <summary>True when a folder above <paramref name="path"/> is in <paramref name="folders"/>.</summary>
    private static bool IsUnder(string path, IReadOnlySet<string> folders)
    {
        for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
        {
            if (folders.Contains(path[..slash]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A file here against a remote folder at its path (<see cref="FileAgainstRemoteFolder"/>): the remote side takes the
    /// path, as it does for a file edited on both sides. A file as synced goes as a remote delete's would
    /// (<see cref="ReplacedByFolderReason"/>); a changed or new one is kept as a conflicted copy and uploaded
    /// (<see cref="FileAgainstFolderReason"/>). One still being written, unreadable or changed while read waits, and
    /// what is under it waits with it (<see cref="UnderKindClash"/>).
    /// </summary>
    private static SyncAction DecideFileAgainstFolder(PlanInput input, string path, LocalEntry local, FileRecord? baseRecord, RemoteEntry? remote)
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

    /// <summary>A file on one side (or in the merge base) and a folder on another, except a kind replaced remotely where the path is gone here.</summary>
    private static bool IsKindClash(LocalEntry? local, FileRecord? baseRecord, RemoteEntry? remote)
    {
        var folder = local?.Kind == FileKind.Folder || baseRecord?.Kind == FileKind.Folder || remote is { Deleted: false, Kind: FileKind.Folder };
        var file = local?.Kind == FileKind.File || baseRecord?.Kind == FileKind.File || remote is { Deleted: false, Kind: FileKind.File };
        return folder && file && !ReplacedRemotely(local, baseRecord, remote) && !BaseKindOnly(local, baseRecord, remote);
    }

    /// <summary>
    /// Here, of another kind than the db row, and remotely either of the same kind as here or deleted: only the merge
    /// base disagrees, so nothing clashes.
    /// </summary>
    private static bool BaseKindOnly(LocalEntry? local, FileRecord? baseRecord, RemoteEntry? remote) =>
        local is not null && baseRecord is not null && baseRecord.Kind != local.Kind
        && remote is not null && (remote.Deleted || remote.Kind == local.Kind);

    /// <summary>Gone here, and replaced remotely by the other kind (a file by a folder or a folder by a file).</summary>
    private static bool ReplacedRemotely(LocalEntry? local, FileRecord? baseRecord, RemoteEntry? remote) =>
        local is null && baseRecord is not null && remote is { Deleted: false } && remote.Kind != baseRecord.Kind;

    private static void PlanRemoteMoves(PlanInput input, List<SyncAction> actions, HashSet<string> handled)
    {
        foreach (var remote in input.Remote.Values)
        {
            if (remote.MovedFrom is not { } from || remote.Deleted || remote.Kind != FileKind.File)
            {
                continue;
            }

            if (!input.Remote.TryGetValue(from, out var oldRemote) || !oldRemote.Deleted || oldRemote.MovedTo != remote.Path)
            {
                continue;
            }

            if (!input.Base.TryGetValue(from, out var oldBase) || !input.Local.Entries.TryGetValue(from, out var oldLocal))
            {
                continue;
            }

            // A chmod here alone still moves (MoveLocal keeps the file's bit and records the moved entry's, so the
            // next pass sends the chmod): a copy of the file would be the only other outcome.
            // A moved ctime (a write with the mtime put back, or only a chmod) asks for the bytes: the file was read.
            var unchanged = oldLocal.Kind == FileKind.File && FileStamp.Of(oldLocal) == FileStamp.Of(oldBase)
                && (!FileStamp.ChangeTimeMoved(oldBase.ChangeTimeNs, oldLocal.ChangeTimeNs)
                    || (input.Fingerprints.TryGetValue(from, out var read) && read.ContentHash.AsSpan().SequenceEqual(oldBase.ContentHash)));
            if (!unchanged || input.Local.Entries.ContainsKey(remote.Path) || input.Local.IsWithheld(remote.Path) || input.Base.ContainsKey(remote.Path)
                || !oldBase.ContentHash.AsSpan().SequenceEqual(remote.ContentHash) || UnderKindClash(input, remote.Path, NoneLeaving))
            {
                continue;
            }

            actions.Add(new SyncAction(SyncActionKind.MoveLocal, from) { ToPath = remote.Path, Local = oldLocal, Remote = remote, Base = oldBase });
            handled.Add(from);
            handled.Add(remote.Path);
        }
    }

    private static readonly HashSet<string> NoneLeaving = new(StringComparer.Ordinal);

    private static List<SyncAction> DetectLocalMoves(List<SyncAction> actions)
    {
        // Only unambiguous pairs: one vanished file and one new file with the same size and content.
        var deletes = actions.Where(a => a.Kind == SyncActionKind.DeleteRemote && a.Base is not null)
            .GroupBy(a => Key(a.Base!.Size, a.Base.ContentHash)).Where(g => g.Count() == 1).ToDictionary(g => g.Key, g => g.First());
        var uploads = actions.Where(a => a.Kind == SyncActionKind.Upload && a.Base is null && a.Fingerprint is not null)
            .GroupBy(a => Key(a.Fingerprint!.Size, a.Fingerprint.ContentHash)).Where(g => g.Count() == 1).ToDictionary(g => g.Key, g => g.First());
        if (deletes.Count == 0 || uploads.Count == 0)
        {
            return actions;
        }

        var replaced = new HashSet<SyncAction>(ReferenceEqualityComparer.Instance);
        var moves = new List<SyncAction>();
        foreach (var (key, delete) in deletes)
        {
            if (uploads.TryGetValue(key, out var upload))
            {
                replaced.Add(delete);
                replaced.Add(upload);
                moves.Add(new SyncAction(SyncActionKind.MoveRemote, delete.Path)
                {
                    ToPath = upload.Path,
                    BaseVersion = delete.BaseVersion,
                    Base = delete.Base,
                    Local = upload.Local,
                    Fingerprint = upload.Fingerprint,
                });
            }
        }

        var result = actions.Where(a => !replaced.Contains(a)).ToList();
        result.AddRange(moves);
        return result;
    }

    private static string Key(long size, byte[] hash) => size + ":" + Convert.ToHexString(hash);

    /// <summary>
    /// True when the server holds an older state of a synced file than the one synced here (a lower version: the
    /// server was restored from a backup taken before it). Versions only go up otherwise (a new epoch moves them past
    /// anything issued before), so what is here is the newer state.
    /// </summary>
    internal static bool WentBack(RemoteEntry? remote, FileRecord? baseRecord) =>
        remote is not null && baseRecord is { Kind: FileKind.File } && remote.Version < baseRecord.Version
        && remote.MovedFrom is null && remote.MovedTo is null && (remote.Deleted || remote.Kind == FileKind.File);

    /// <summary>
    /// The server went back (see <see cref="WentBack"/>): the older state is never downloaded over the newer one here.
    /// The file here (edited since or not) is uploaded again as a new version over the server's (the older one stays
    /// in the history); a file deleted here is deleted there too.
    /// </summary>
    private static SyncAction KeepNewer(string path, LocalEntry? local, byte[]? localHash, FileFingerprint? fingerprint, FileRecord baseRecord, RemoteEntry remote)
    {
        var remoteVersion = remote.Deleted ? 0 : remote.Version;
        if (local is null)
        {
            return remote.Deleted
                ? new SyncAction(SyncActionKind.Forget, path) { Base = baseRecord }
                : new SyncAction(SyncActionKind.DeleteRemote, path) { BaseVersion = remoteVersion, Base = baseRecord };
        }

        if (!remote.Deleted && localHash!.AsSpan().SequenceEqual(remote.ContentHash))
        {
            return new SyncAction(SyncActionKind.Record, path) { Local = local, Fingerprint = fingerprint, Remote = remote, Base = baseRecord };
        }

        return new SyncAction(SyncActionKind.Upload, path)
        {
            Local = local, Fingerprint = fingerprint, BaseVersion = remoteVersion, Base = baseRecord,
            Reason = "the server holds an older version (restored from a backup): the newer file here is uploaded again",
        };
    }

    /// <summary>True when the remote side moved away from the merge base (a new live path, or a new version or delete of a synced one).</summary>
    private static bool RemoteChanged(RemoteEntry? remote, FileRecord? baseRecord) =>
        remote is not null && (baseRecord is null ? !remote.Deleted : remote.Deleted || remote.Version != baseRecord.Version);
}
