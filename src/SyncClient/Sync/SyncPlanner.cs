using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Three-way decisions per path with the db as merge base: pure (no I/O), so every case is unit-tested.
/// Local renames are found by content (size + content hash) and become moves; remote moves of files
/// unchanged locally become local renames (<see cref="MoveDetection"/>). A path the ignore rules exclude is left alone
/// on both sides. A file on one side against a folder on the other is decided by <see cref="KindConflictRules"/>; what
/// needs no decision path by path (plain new files on either side, echoes of the synced state) by
/// <see cref="PlannerFastPaths"/>, which the engine applies right after the scan.
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

    /// <summary>
    /// Reason of a <see cref="SyncActionKind.KindConflict"/> for a remote file at a folder here that holds the client's
    /// state directory (see <see cref="PlanInput.FilesAboveStateDirectory"/>): the folder cannot leave its path, so the
    /// file does, on the server, to a conflicted copy (with the version seen: a change made meanwhile wins, and is met by
    /// the next pass); it comes down under that name, and what lies beside the state directory goes up.
    /// </summary>
    public const string StateFolderAgainstFileReason = "a folder here that holds the client's state directory and a file remotely at one path: the folder cannot move, so the file is renamed on the server to a conflicted copy";

    /// <summary>Reason of a skip for a path under a kind clash (a folder on one side that is a file on the other).</summary>
    public const string UnderKindClashReason = "under a folder that is a file on the other side; syncs once one of them is renamed";

    /// <summary>Reason of a skip for a remote change to a path the local ignore rules exclude.</summary>
    public const string IgnoredReason = "ignored here by a .dropboxignore or built-in rule; the remote change is not applied";

    public static List<SyncAction> Plan(PlanInput input)
    {
        var actions = new List<SyncAction>();
        // Local names that clash in case first: the rest is planned over the snapshot as their renames leave it.
        var caseSteps = new List<SyncAction>();
        input = LocalCasePlan.Plan(input, caseSteps);
        input = PlanNewDownloads(input, actions);
        KindConflictRules.MoveAsideAboveStateDirectory(input, actions);
        var handled = new HashSet<string>(StringComparer.Ordinal);
        MoveDetection.PlanRemoteMoves(input, actions, handled);

        // Files here that leave their path this pass for a remote folder (KindConflict): what comes down under them is
        // planned as usual (the executor moves them first). Planned before what is under them (ordinal order). So do the
        // files a remote move takes from here (MoveLocal, run before the transfers): the server's file went from that
        // path, and what it holds there now (a file another device moved aside on the server to put a folder there) comes down.
        var leaving = new HashSet<string>(actions.Where(a => a.Kind == SyncActionKind.MoveLocal).Select(a => a.Path), StringComparer.Ordinal);
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
                : input.IsWithheld(path) ? WithheldReason
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
            if (KindConflictRules.UnderKindClash(input, path, leaving))
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

        // Hidden leftovers of a stopped client: removed or kept, run by the executor before anything else. A copy kept in
        // a folder that leaves its path for a remote file, or at or under a clash, is moved or waits with it, as any new file there.
        foreach (var leftover in input.Displaced)
        {
            if (input.Local.IsWithheld(leftover.Holding))
            {
                continue; // in a folder a case-conflict rename moves first this pass: met by the next pass under its new name
            }

            var folderHeld = KindConflictRules.UnderKindClash(input, leftover.Holding, leaving) || (clearing.Count > 0 && IsUnder(leftover.Holding, clearing));
            actions.Add(DisplacedRules.Decide(leftover, folderHeld));
        }

        // New remote files that clash in case with a name here (withheld above): renamed on the server first, or held.
        foreach (var clash in input.NewRemoteCaseClashes)
        {
            actions.Add(clash.Outcome == NewRemoteCaseOutcome.RenameOnServer
                ? new SyncAction(SyncActionKind.CaseRenameRemote, clash.Path) { ToPath = clash.Target, CaseClash = clash }
                : new SyncAction(SyncActionKind.CaseHoldRemote, clash.Path) { CaseClash = clash });
        }

        var plan = MoveDetection.DetectLocalMoves(actions);
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
        plan.AddRange(caseSteps); // touch no other planned path (both names withheld, or a file's own new name)
        plan.AddRange(input.CaseWaits);
        return plan;
    }

    /// <summary>
    /// With <see cref="PlanInput.Synced"/> (a caller that did not take them first): the plain new remote files, planned
    /// over a copy of the remote view so the input is left as given. The engine takes them with
    /// <see cref="PlannerFastPaths.TakeNewDownloads"/> right after the scan instead, so they never cost more than a path and a size.
    /// </summary>
    private static PlanInput PlanNewDownloads(PlanInput input, List<SyncAction> actions)
    {
        if (input.Synced is not { } synced)
        {
            return input;
        }

        var remote = new Dictionary<string, RemoteEntry>(input.Remote, StringComparer.Ordinal);
        actions.AddRange(PlannerFastPaths.TakeNewDownloads(remote, synced, input.Local, input.Refused, input.NewRemoteCaseClashes));
        return input with { Remote = remote, Synced = null };
    }

    /// <summary>
    /// True when <paramref name="path"/>, which has no remote entry of its own this pass, is a folder above live remote
    /// entries (the folded names hold it spelled exactly so): a file here at that path is the planner's to decide (see
    /// <see cref="KindConflictRules.FileAgainstRemoteFolder"/>), never a plain new file (its upload would be refused, pass after pass).
    /// </summary>
    internal static bool IsRemoteFolderAbove(IReadOnlyDictionary<string, string>? folds, string path) =>
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
            return true; // renamed with its folder (see SyncActionKind.CaseRenameLocal), never a plain new file
        }

        if (folds is null || !folds.TryGetValue(SyncPaths.CaseFoldKey(path), out var other) || other == path)
        {
            return false;
        }

        return !index.ContainsKey(path) || (remote.TryGetValue(path, out var own) && own.Deleted);
    }

    private static SyncAction? Decide(PlanInput input, string path, LocalEntry? local, FileRecord? baseRecord, RemoteEntry? remote)
    {
        if (KindConflictRules.ReplacedRemotely(local, baseRecord, remote))
        {
            // Deleted here, replaced by the other kind remotely: the remote side wins, as a remote edit of a file
            // deleted here does (else the folder's delete would be refused remotely, pass after pass).
            return remote!.Kind == FileKind.Folder
                ? new SyncAction(SyncActionKind.CreateLocalFolder, path) { Remote = remote }
                : new SyncAction(SyncActionKind.Download, path) { Remote = remote, Base = baseRecord, BaseVersion = baseRecord!.Version };
        }

        if (KindConflictRules.FileAgainstRemoteFolder(input, path, local, baseRecord, remote))
        {
            return KindConflictRules.DecideFileAgainstFolder(input, path, local!, baseRecord, remote);
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

        if (KindConflictRules.FolderAgainstRemoteFile(local, remote))
        {
            return KindConflictRules.DecideFolderAgainstFile(input, path, local!, baseRecord, remote!);
        }

        if (KindConflictRules.BaseKindOnly(local, baseRecord, remote))
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
        if (KindConflictRules.IsKindClash(local, baseRecord, remote))
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

            if (remoteDeleted)
            {
                return new SyncAction(SyncActionKind.DeleteLocalFolder, path) { Base = baseRecord, Remote = remote };
            }

            // A folder on all three sides, the server's at a newer version (an older one is never taken: a listing behind
            // the row says nothing the row does not): only the row follows it (see SyncActionKind.RecordFolder).
            return remoteFolder && remote!.Version > baseRecord.Version ? new SyncAction(SyncActionKind.RecordFolder, path) { Base = baseRecord, Remote = remote } : null;
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

    /// <summary>True when a scanned file changed against the merge base and was observed unsettled (what <see cref="Decide"/> waits for).</summary>
    internal static bool WaitsAsChanged(LocalEntry local, FileRecord? baseRecord) => !IsUnchanged(local, baseRecord) && Waits(local.SettlesIn);

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
