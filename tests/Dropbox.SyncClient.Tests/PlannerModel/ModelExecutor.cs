using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>
/// Applies a plan to a <see cref="ModelWorld"/> as <c>SyncExecutor.ExecuteAsync</c> does when every transfer succeeds:
/// the same phases (leftovers and case renames on the server, local folders, then moves/records/touches/forgets, then transfers, remote folders, deletes,
/// folder deletes deepest first), the transfers in a random order (they run concurrently), and the executor's
/// answers to the server's refusals (a stale upload becomes a conflict, a refused remote move becomes an upload and
/// a delete, a refused delete keeps the row). A step the real executor would fail (a file in the way of a folder it
/// creates) counts as an error: the cursor then stays where it was.
/// </summary>
internal sealed class ModelExecutor(ModelWorld world, Random random)
{
    public int Errors { get; private set; }

    /// <summary>Local case-conflict renames of the plan not made (the name gone, its new name taken, the server's move refused).</summary>
    public int CaseRenamesNotMade { get; private set; }

    /// <summary>Steps of the plan a case-conflict rename not made turned into skips (<see cref="LocalCaseRenames.Hold"/>).</summary>
    public int StepsHeld { get; private set; }

    /// <summary>Case-conflict renames that wait to follow a server move (<see cref="LocalCaseOutcome.Followed"/> on a wait).</summary>
    public int FollowedWaits { get; private set; }

    /// <summary>The remote changes at the names of followed renames not made (<see cref="FollowedCaseMoves.Select"/>): the engine stores them with its cursor.</summary>
    public List<RemoteEntry> FollowedMoves { get; private set; } = [];

    /// <summary>Followed case-conflict renames made to fail this pass.</summary>
    public int FollowedFailed { get; private set; }

    /// <summary>
    /// The remote deletes this pass's case-conflict renames found at their followed rows' new paths (LocalCaseRenames.RowsToMove:
    /// a delete there, or one before the move that <see cref="DeletesBeforeCaseMoves"/> put there): the engine remembers
    /// them with the rows' moves at once, and with the cursor.
    /// </summary>
    private readonly List<RemoteEntry> _goneAtNewPath = [];

    /// <summary>How many such deletes this pass remembered.</summary>
    public int GoneAtNewPath => _goneAtNewPath.Count;

    /// <summary>A remote move could not be applied here: the next pass lists everything.</summary>
    public bool ListAllNextPass { get; private set; }

    public void Execute(List<SyncAction> plan, RemoteView? remote = null)
    {
        // Local case-conflict renames before anything else (LocalCaseRenames): one not made holds every step under its names.
        var notMade = new HashSet<string>(StringComparer.Ordinal);
        var followed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in plan.Where(a => a is { Kind: SyncActionKind.Wait, LocalCase: { Followed: true, Target: not null } }))
        {
            notMade.UnionWith([a.LocalCase!.Path, a.LocalCase.Target!]); // a rename that waits to follow the server's move
            followed.UnionWith([a.LocalCase.Path, a.LocalCase.Target!]);
            FollowedWaits++;
        }

        foreach (var a in plan.Where(a => a.Kind == SyncActionKind.CaseRenameLocal).ToList())
        {
            // Once a case, at random: another program makes the rename's new name right before it (the rename fails).
            if (!world.RenameTargetTaken && random.Next(3) == 0 && world.LocalWrite(a.ToPath!, world.NewContent()))
            {
                world.RenameTargetTaken = true;
                world.Trace.Add($"    another program made {a.ToPath} right before the rename");
            }

            // A rename that follows the server's move (here alone: nothing of it goes to the server) fails, a folder's too,
            // pass after pass for up to two passes of the case, at random (permission denied, say: nothing left in the
            // way): the engine remembers the move it follows (FollowedCaseMoves) and moves its cursor on; once the rename
            // can be made it is, following the move still.
            if (a.LocalCase is { Followed: true, OnServer.Count: 0 } && world.FollowedFailuresLeft != 0)
            {
                if (world.FollowedFailuresLeft < 0)
                {
                    world.FollowedFailuresLeft = random.Next(3);
                }

                if (world.FollowedFailuresLeft > 0)
                {
                    world.FollowedFailuresLeft--;
                    FollowedFailed++;
                    notMade.UnionWith([a.Path, a.ToPath!]);
                    followed.UnionWith([a.Path, a.ToPath!]);
                    CaseRenamesNotMade++;
                    world.Trace.Add($"    followed rename failed here: {a}");
                    continue;
                }
            }

            if (!CaseRenameLocal(a, remote!))
            {
                notMade.Add(a.Path);
                notMade.Add(a.ToPath!);
                CaseRenamesNotMade++;
                if (a.LocalCase!.Followed)
                {
                    followed.UnionWith([a.Path, a.ToPath!]);
                }

                world.Trace.Add($"    not renamed: {a}");
            }
        }

        if (notMade.Count > 0)
        {
            var before = plan.ToList();
            LocalCaseRenames.Hold(plan, notMade, remote!.Changes);
            StepsHeld = plan.Where((x, i) => i >= before.Count || !ReferenceEquals(x, before[i])).Count();
        }

        // A followed rename not made (or waiting) keeps the server's move for the next passes' views, stored with the cursor;
        // with it the deletes the renames made found at their rows' new paths (LocalCaseRenames.RowsToMove).
        FollowedMoves = remote is null ? [] : FollowedCaseMoves.WithGone(FollowedCaseMoves.Select(followed, remote.Changes, plan), _goneAtNewPath);

        var ranEarly = new HashSet<SyncAction>(ReferenceEqualityComparer.Instance);
        foreach (var a in plan.Where(a => a.Kind is SyncActionKind.RemoveDisplaced or SyncActionKind.KeepDisplaced))
        {
            Run(a);
        }

        foreach (var a in plan.Where(a => a.Kind == SyncActionKind.CaseRenameRemote))
        {
            Run(a);
        }

        foreach (var a in plan.Where(a => a.Kind == SyncActionKind.KindConflict))
        {
            if (a.Reason == SyncPlanner.FolderAgainstFileReason)
            {
                foreach (var d in plan.Where(d => d.Kind == SyncActionKind.DeleteLocal && d.Path.StartsWith(a.Path + "/", StringComparison.Ordinal)))
                {
                    Run(d);
                    ranEarly.Add(d);
                }
            }

            Run(a);
        }

        foreach (var a in plan.Where(a => a.Kind == SyncActionKind.CreateLocalFolder).OrderBy(a => a.Path, StringComparer.Ordinal))
        {
            Run(a);
        }

        foreach (var a in plan.Where(a => a.Kind is SyncActionKind.MoveLocal or SyncActionKind.MoveRemote or SyncActionKind.Record or SyncActionKind.RecordFolder or SyncActionKind.Touch or SyncActionKind.Forget))
        {
            Run(a);
        }

        // The plain new local files (one UploadNew) go up as new uploads, in the shuffle with the other transfers.
        var transfers = plan.Where(a => a.Kind is SyncActionKind.Download or SyncActionKind.DownloadNew or SyncActionKind.Upload or SyncActionKind.Conflict)
            .Concat(plan.Where(a => a.Kind == SyncActionKind.UploadNew).SelectMany(a => a.NewFiles!.Actions())).ToArray();
        random.Shuffle(transfers);
        foreach (var a in transfers)
        {
            Run(a);
        }

        foreach (var a in plan.Where(a => a.Kind == SyncActionKind.CreateRemoteFolder).OrderBy(a => a.Path, StringComparer.Ordinal))
        {
            Run(a);
        }

        var deletes = plan.Where(a => a.Kind is SyncActionKind.DeleteLocal or SyncActionKind.DeleteRemote && !ranEarly.Contains(a)).ToArray();
        random.Shuffle(deletes);
        foreach (var a in deletes)
        {
            Run(a);
        }

        foreach (var a in plan.Where(a => a.Kind is SyncActionKind.DeleteLocalFolder or SyncActionKind.DeleteRemoteFolder).OrderByDescending(a => a.Path.Length))
        {
            Run(a);
        }
    }

    private void Run(SyncAction a)
    {
        if (!RunCore(a))
        {
            Errors++;
            world.Trace.Add($"    error: {a}");
        }
    }

    private bool RunCore(SyncAction a)
    {
        switch (a.Kind)
        {
            case SyncActionKind.Upload:
                return Upload(a.Path, a.BaseVersion, allowRetryAsNew: true);
            case SyncActionKind.Download or SyncActionKind.DownloadNew:
                return Download(a.Path);
            case SyncActionKind.Conflict:
                return Conflict(a.Path);
            case SyncActionKind.KindConflict when a.Reason == SyncPlanner.ReplacedHereByFolderReason:
                DeleteRemote(a.Path, a.BaseVersion);
                return true;
            case SyncActionKind.KindConflict when a.Reason == SyncPlanner.FolderAgainstFileReason:
                return LeaveForFile(a);
            case SyncActionKind.KindConflict:
                return LeaveForFolder(a);
            case SyncActionKind.RemoveDisplaced:
                world.Leftovers.Remove(a.Path); // to the trash: what the server holds, says the rule (the no-loss check holds it to that)
                return true;
            case SyncActionKind.KeepDisplaced:
                return KeepDisplaced(a);
            case SyncActionKind.CaseRenameRemote:
                return CaseRenameRemote(a);
            case SyncActionKind.DeleteRemote:
                DeleteRemote(a.Path, a.BaseVersion);
                return true;
            case SyncActionKind.DeleteLocal:
                DeleteLocal(a);
                return true;
            case SyncActionKind.MoveRemote:
                return MoveRemote(a);
            case SyncActionKind.MoveLocal:
                return MoveLocal(a);
            case SyncActionKind.Record:
                world.Base[a.Path] = world.FileRecordOf(a.Path, a.Remote!.Version);
                return true;
            case SyncActionKind.Touch:
                world.Base[a.Path] = world.Base[a.Path] with { MtimeTicks = a.Local!.MtimeTicks };
                return true;
            case SyncActionKind.Forget:
                world.Base.Remove(a.Path);
                return true;
            case SyncActionKind.RecordFolder:
                if (world.Local.TryGetValue(a.Path, out var recorded) && recorded.Kind == ModelKind.Folder)
                {
                    world.Base[a.Path] = world.Base[a.Path] with { Version = a.Remote!.Version };
                }

                return true;
            case SyncActionKind.CreateLocalFolder:
                if (!world.LocalMakeFolder(a.Path))
                {
                    return false;
                }

                world.Base[a.Path] = new FileRecord(a.Path, FileKind.Folder, 0, 0, a.Remote?.Version ?? 0, []);
                return true;
            case SyncActionKind.CreateRemoteFolder:
                // The executor takes AlreadyExists (a folder or a file there) as done, with version 0.
                world.Server.CreateFolder(a.Path, out var folderVersion);
                world.Base[a.Path] = new FileRecord(a.Path, FileKind.Folder, 0, 0, folderVersion, []);
                return true;
            case SyncActionKind.DeleteRemoteFolder:
                if (world.Server.Delete(a.Path, 0, onlyIfEmpty: true) != ModelRefusal.Conflict)
                {
                    world.Base.Remove(a.Path);
                }

                return true;
            case SyncActionKind.DeleteLocalFolder:
                if (world.Local.TryGetValue(a.Path, out var folder) && folder.Kind == ModelKind.Folder && !world.LocalHasChildren(a.Path))
                {
                    world.Local.Remove(a.Path);
                }

                world.Base.Remove(a.Path);
                return true;
            default:
                return true;
        }
    }

    private bool Upload(string path, ulong baseVersion, bool allowRetryAsNew)
    {
        if (!world.Local.TryGetValue(path, out var node) || node.Kind != ModelKind.File)
        {
            return true; // vanished since the scan: reported as changed, judged again next pass
        }

        var refusal = world.Server.Commit(path, node.Content, baseVersion, out var version);
        switch (refusal)
        {
            case null:
                world.Base[path] = world.FileRecordOf(path, version);
                return true;
            case ModelRefusal.Conflict when !world.Server.Live.ContainsKey(path) && allowRetryAsNew:
                return Upload(path, 0, allowRetryAsNew: false);
            case ModelRefusal.Conflict:
                return Conflict(path);
            default:
                return false; // AlreadyExists: a DropboxException, an error of this pass
        }
    }

    private bool Download(string path)
    {
        if (!world.Server.Live.TryGetValue(path, out var remote) || remote.Kind != ModelKind.File)
        {
            return true; // gone since the listing: nothing placed
        }

        if (!world.LocalWrite(path, remote.Content))
        {
            return false;
        }

        world.Base[path] = world.FileRecordOf(path, remote.Version);
        return true;
    }

    private bool Conflict(string path)
    {
        if (!world.Local.TryGetValue(path, out var node) || node.Kind != ModelKind.File)
        {
            return true;
        }

        var copy = world.ConflictName(path);
        world.Local.Remove(path);
        world.Local[copy] = node;
        var placed = world.Server.Live.TryGetValue(path, out var remote) && remote.Kind == ModelKind.File && world.LocalWrite(path, remote.Content);
        if (placed)
        {
            world.Base[path] = world.FileRecordOf(path, remote!.Version);
        }
        else
        {
            world.Base.Remove(path);
        }

        return Upload(copy, 0, allowRetryAsNew: false);
    }

    /// <summary>
    /// As the executor's: the leftover to a conflicted-copy name beside the file it displaced (the short name where none
    /// is carried), size and mtime kept, sent as new now or left to a later pass as the plan says.
    /// </summary>
    private bool KeepDisplaced(SyncAction a)
    {
        var node = world.Leftovers[a.Path];
        world.Leftovers.Remove(a.Path);
        var parent = ModelWorld.Parent(a.Path);
        var copy = world.ConflictName(a.Original ?? (parent.Length == 0 ? DisplacedFiles.FallbackName : parent + "/" + DisplacedFiles.FallbackName));
        world.Local[copy] = new LocalNode(ModelKind.File, node.Content, node.MtimeTicks);
        return a.Reason != DisplacedRules.KeepReason || Upload(copy, 0, allowRetryAsNew: false);
    }

    /// <summary>As the executor's: a file as synced goes as a remote delete's would, else (or written since) to a conflicted copy uploaded as new.</summary>
    private bool LeaveForFolder(SyncAction a)
    {
        if (a.Reason == SyncPlanner.ReplacedByFolderReason)
        {
            DeleteLocal(a);
        }

        var uploaded = true;
        if (world.Local.TryGetValue(a.Path, out var node) && node.Kind == ModelKind.File)
        {
            var copy = world.ConflictName(a.Path);
            world.Local.Remove(a.Path);
            world.Local[copy] = node;
            world.Base.Remove(a.Path);
            uploaded = Upload(copy, 0, allowRetryAsNew: false);
        }

        if (a.Remote is { Deleted: false, Kind: FileKind.Folder } folder)
        {
            if (!world.LocalMakeFolder(a.Path))
            {
                return false;
            }

            world.Base[a.Path] = new FileRecord(a.Path, FileKind.Folder, 0, 0, folder.Version, []);
        }

        return uploaded;
    }

    /// <summary>As the executor's: the folder's empty folders go, what is left moves aside to a conflicted copy, the remote file comes down.</summary>
    private bool LeaveForFile(SyncAction a)
    {
        var prefix = a.Path + "/";
        foreach (var folder in world.Local.Where(e => e.Value.Kind == ModelKind.Folder && e.Key.StartsWith(prefix, StringComparison.Ordinal))
            .Select(e => e.Key).OrderByDescending(p => p.Length).ToList())
        {
            if (!world.LocalHasChildren(folder) && !world.Leftovers.Keys.Any(k => k.StartsWith(folder + "/", StringComparison.Ordinal)))
            {
                world.Local.Remove(folder); // empty: not even a hidden leftover in it (which the plan may leave to the next pass)
            }
        }

        if (world.Local.TryGetValue(a.Path, out var node) && node.Kind == ModelKind.Folder)
        {
            if (world.LocalHasChildren(a.Path))
            {
                // With what is hidden in it (a leftover the plan leaves to the next pass), as a rename on disk.
                world.LocalMove(a.Path, world.ConflictName(a.Path));
            }
            else
            {
                world.Local.Remove(a.Path);
            }
        }

        world.Base.Remove(a.Path);
        return Download(a.Path);
    }

    private void DeleteRemote(string path, ulong baseVersion)
    {
        if (world.Server.Delete(path, baseVersion) != ModelRefusal.Conflict)
        {
            world.Base.Remove(path);
        }
    }

    private void DeleteLocal(SyncAction a)
    {
        if (world.Local.TryGetValue(a.Path, out var node))
        {
            if (node.Kind != ModelKind.File || a.Local is null || ModelServer.Size(node.Content) != a.Local.Size || node.MtimeTicks != a.Local.MtimeTicks)
            {
                return; // changed since the plan: kept, uploaded again next pass
            }

            world.Local.Remove(a.Path); // to the trash (its content is the synced version, restorable remotely)
            RemoveEmptyParents(a.Path);
        }

        world.Base.Remove(a.Path);
    }

    /// <summary>A new remote file that clashes in case, renamed on the server (the next free name where one is taken); changed meanwhile: left to the next pass.</summary>
    /// <summary>
    /// LocalCaseRenames.RenameAsync with every call answered by the model: not made when the name is gone here or its new
    /// name taken (in any case), or the server refuses its move (remembered, or, refused at its last try too, renamed here
    /// alone); else the server's paths moved first, the folder or file renamed here, and the rows moved (RowsToMove's rule).
    /// </summary>
    private bool CaseRenameLocal(SyncAction a, RemoteView remote)
    {
        var (outcome, facts) = (a.LocalCase!, a.CaseFacts!);
        var (from, to) = (a.Path, a.ToPath!);
        var toFold = Dropbox.SyncClient.Local.SyncPaths.CaseFoldKey(to);
        if (!world.Local.TryGetValue(from, out var node) || (node.Kind == ModelKind.Folder) != outcome.IsDirectory
            || world.Local.Keys.Any(p => Dropbox.SyncClient.Local.SyncPaths.CaseFoldKey(p) == toFold))
        {
            return false;
        }

        var renamedOnServer = outcome.OnServer.Count > 0;
        var made = new Dictionary<string, (ulong Version, byte[] ContentHash)>(StringComparer.Ordinal);
        if (renamedOnServer)
        {
            var movedFolders = new List<string>();
            foreach (var (path, version) in outcome.OnServer)
            {
                if (movedFolders.Exists(f => LocalCaseFacts.Under(path, f)))
                {
                    continue;
                }

                var target = to + path[from.Length..];
                if (world.Server.Move(path, target, version, out var movedVersion) is not null)
                {
                    renamedOnServer = false;
                    break;
                }

                made[target] = (movedVersion, ModelServer.Hash(world.Server.Live[target].Content));

                if (world.Server.Live[target].Kind == ModelKind.Folder)
                {
                    movedFolders.Add(path);
                }
            }

            if (!renamedOnServer)
            {
                if (!outcome.HereAloneIfRefused)
                {
                    world.CaseRefused.Add(from);
                    return false;
                }
            }
        }

        world.CaseRefused.Remove(from);
        world.LocalMove(from, to); // with what is hidden under a folder (leftovers), as a rename on disk

        if (renamedOnServer || outcome.Followed)
        {
            // A folder moved with what is under it: the engine lists it after the move for the versions the move gave
            // (WithMovedFoldersVersionsAsync), taken by the same rule; its reply carried the folder's alone.
            foreach (var folder in renamedOnServer ? made.Keys.Where(p => world.Server.Live.TryGetValue(p, out var n) && n.Kind == ModelKind.Folder).ToList() : [])
            {
                var listed = world.Server.Live.Where(kv => LocalCaseFacts.Under(kv.Key, folder))
                    .Select(kv => new RemoteEntry(kv.Key, kv.Value.Kind == ModelKind.Folder ? FileKind.Folder : FileKind.File, kv.Value.Version, false, ModelServer.Size(kv.Value.Content), ModelServer.Hash(kv.Value.Content), 1));
                LocalCaseRenames.TakeListedVersions(from, to, folder, listed, p => world.Base.TryGetValue(p, out var row) ? row.Kind : null, made);
            }

            var onServer = renamedOnServer ? outcome.OnServer.Select(l => l.Path).ToHashSet(StringComparer.Ordinal) : [];
            var goneThere = new List<RemoteEntry>();
            foreach (var key in facts.SyncedUnder)
            {
                var path = to + key[from.Length..];
                var followed = LocalCaseRenames.FollowedMove(key, path, remote.Changes);
                if ((!onServer.Contains(key) && !followed) || (!followed && remote.Changes.TryGetValue(key, out var gone) && gone.Deleted) || !world.Base.Remove(key, out var record))
                {
                    continue;
                }

                var version = made.TryGetValue(path, out var m) ? (m.ContentHash.AsSpan().SequenceEqual(record.ContentHash) ? m.Version : record.Version)
                    : followed ? LocalCaseRenames.FollowedVersion(record, key, path, remote.Changes)
                    : record.Version;
                world.Base[path] = record with { Path = path, Version = version };
                if (!onServer.Contains(key) && remote.Changes.GetValueOrDefault(path) is { Deleted: true })
                {
                    goneThere.Add(new RemoteEntry(path, record.Kind, version, Deleted: true, record.Size, record.ContentHash, 0));
                }
            }

            if (goneThere.Count > 0)
            {
                // As RecordMoves: remembered at once, in the rows' transaction (kept by a pass that keeps its cursor too).
                world.FollowedMoves = FollowedCaseMoves.WithGone([.. world.FollowedMoves], goneThere);
                _goneAtNewPath.AddRange(goneThere);
            }
        }

        return true;
    }

    private bool CaseRenameRemote(SyncAction a)
    {
        var c = a.CaseClash!;
        var to = a.ToPath!;
        var refused = new HashSet<string>(StringComparer.Ordinal);
        for (var attempt = 1; attempt <= NewRemoteCaseRenames.MaxMoves; attempt++)
        {
            if (world.Server.Move(a.Path, to, c.Version, out _) is not ModelRefusal.AlreadyExists)
            {
                return true;
            }

            refused.Add(to[..(to.Length - (c.Path.Length - c.Clash.Length))]);
            to = NewRemoteCaseRules.TargetOf(c.Path, c.Clash, p => c.NamesInUse.Contains(p) || refused.Contains(p));
        }

        return true;
    }

    private bool MoveRemote(SyncAction a)
    {
        var to = a.ToPath!;
        if (world.Server.Move(a.Path, to, a.BaseVersion, out var version) is null)
        {
            world.Base.Remove(a.Path);
            world.Base[to] = world.FileRecordOf(to, version);
            return true;
        }

        // The source changed remotely (or is gone), or the destination is taken: the new path as a file, the delete as a delete.
        var uploaded = Upload(to, 0, allowRetryAsNew: false);
        DeleteRemote(a.Path, a.BaseVersion);
        return uploaded;
    }

    private bool MoveLocal(SyncAction a)
    {
        var to = a.ToPath!;
        if (!world.Local.TryGetValue(a.Path, out var node) || node.Kind != ModelKind.File || ModelServer.Size(node.Content) != a.Local!.Size
            || node.MtimeTicks != a.Local.MtimeTicks || world.Local.ContainsKey(to))
        {
            ListAllNextPass = true;
            return true;
        }

        if (!world.LocalWrite(to, node.Content, node.MtimeTicks))
        {
            return false;
        }

        world.Local.Remove(a.Path);
        RemoveEmptyParents(a.Path);
        world.Base.Remove(a.Base!.Path); // the row's own path (a file a followed case-conflict rename carried: LocalCasePlan.MovesOn)
        world.Base[to] = world.FileRecordOf(to, a.Remote!.Version);
        return true;
    }

    /// <summary>As the executor's: empty folders above a removed file go, up to one the db knows.</summary>
    private void RemoveEmptyParents(string path)
    {
        for (var parent = ModelWorld.Parent(path); parent.Length > 0; parent = ModelWorld.Parent(parent))
        {
            if (world.Base.ContainsKey(parent) || !world.Local.ContainsKey(parent) || world.LocalHasChildren(parent))
            {
                return;
            }

            world.Local.Remove(parent);
        }
    }
}
