using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The executor's part for local names that clash in case (<see cref="SyncActionKind.CaseRenameLocal"/>), run before
/// anything else of the pass: each rename the plan holds is looked at again right before it (still here, its new name
/// still free, not written since: <see cref="LocalCaseFacts.CannotRenameNow(SyncContext, LocalCaseOutcome)"/>,
/// <see cref="LocalCaseRules.Recheck"/>), made on the server first where the server holds the name (with the versions
/// seen), then here (never over anything), and its synced rows follow it (<see cref="RowsToMove"/>, with a write-ahead
/// intent for a crash between the rename here and the rows' db write: <see cref="CaseRenameIntent"/>). A rename not made
/// (refused, failed, or found written since) turns every other step of the plan at or under either name into a skip
/// (<see cref="LocalCasePlan.NotMadeReason"/>), so nothing is sent, fetched or deleted there this pass; the
/// rename is reported pending and tried again by the next pass. One per pass; the refusals the server gave are
/// remembered across passes by <paramref name="memory"/>.
/// </summary>
internal sealed class LocalCaseRenames(SyncContext ctx, SyncSummary summary, CaseConflicts memory)
{
    /// <summary>
    /// The remote deletes this pass's moves found (<see cref="GoneBeforeMove"/>), one at each moved row's new path: left
    /// with the followed moves (<see cref="FollowedCaseMoves"/>), so the next pass's view holds them and the planner decides
    /// each as a remote delete.
    /// </summary>
    private readonly List<RemoteEntry> _goneBeforeMove = [];

    /// <summary>
    /// Runs the plan's case-conflict renames, in the plan's order, and edits <paramref name="plan"/> for those not made:
    /// a rename that waits becomes its wait, every step at or under its names a skip. Runs before the plan's skips and
    /// waits are reported (<see cref="SkipReport"/>), so those it adds are reported with them. A rename that follows another
    /// device's server move (<see cref="LocalCaseOutcome.Followed"/>) and was not made (or waits to follow it) leaves that move for the memory of
    /// followed moves (<see cref="FollowedCaseMoves.Leave"/>, stored with the cursor): only the listing shows that move (a
    /// remembered path is looked up as it is now, which says nothing of where it went), and with the move put back in its
    /// view the next pass follows it again rather than deciding the clash anew, while the cursor moves on.
    /// </summary>
    public async Task RunAsync(List<SyncAction> plan, RemoteView remote, CancellationToken ct)
    {
        foreach (var a in plan)
        {
            if (a is { Kind: SyncActionKind.Wait, LocalCase.Log: { } log })
            {
                ctx.Progress.Log(log);
            }
        }

        var notMade = new HashSet<string>(StringComparer.Ordinal);
        var followedNotMade = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in plan)
        {
            // A rename that waits to follow the server's move is not made this pass either (the plan withheld both names).
            if (a is { Kind: SyncActionKind.Wait, LocalCase: { Followed: true, Target: { } target } waits })
            {
                notMade.UnionWith([waits.Path, target]);
                followedNotMade.UnionWith([waits.Path, target]);
            }
        }

        var stability = plan.Exists(a => a.Kind == SyncActionKind.CaseRenameLocal) ? ctx.Stability() : null;
        for (var i = 0; stability is not null && i < plan.Count; i++)
        {
            if (plan[i] is not { Kind: SyncActionKind.CaseRenameLocal } a)
            {
                continue;
            }

            var (made, wait) = await RenameAsync(a.LocalCase!, a.CaseFacts!, stability, remote, plan, ct).ConfigureAwait(false);
            if (!made)
            {
                notMade.Add(a.Path);
                notMade.Add(a.ToPath!);
                if (a.LocalCase!.Followed)
                {
                    followedNotMade.Add(a.Path);
                    followedNotMade.Add(a.ToPath!);
                }

                if (wait is not null)
                {
                    plan[i] = wait;
                }
            }
        }

        if (notMade.Count > 0)
        {
            Hold(plan, notMade, remote.Changes);
        }

        memory.Followed.Leave(FollowedCaseMoves.WithGone(FollowedCaseMoves.Select(followedNotMade, remote.Changes, plan), _goneBeforeMove));
    }

    /// <summary>
    /// Every step of <paramref name="plan"/> at or under one of <paramref name="names"/> (both names of each rename not
    /// made), but the renames' own and the steps that do nothing, becomes a skip: planned as if the rename were made, it
    /// would send a file under the name that clashes, take the new name's place, or delete what was only renamed. A skip
    /// at a path the server changed (the step's own remote change, or, for a step that carries none, such as the
    /// <see cref="SyncActionKind.Forget"/> of a remote delete whose file is gone here, the change <paramref name="remote"/>
    /// holds there) is a withheld one, remembered with the withheld paths and applied once the clash is gone: the cursor
    /// moves past it, and a skip of its own reason would lose it for good. A step that brings a name here from the server
    /// (a download, a new folder, a move here) is held at a name that differs only in case from either name too: on a
    /// folder that folds case it would land on the very file whose rename was not made, and on any other it would make
    /// beside it the clash the rename was for. A remote change at or under either name that has no step at all is
    /// skipped as withheld too: the plan saw the rows as the rename leaves them (<see cref="LocalCasePlan"/>), where a
    /// change another device made there (its move of the same name, followed) is no change at all, and with the rename
    /// not made the cursor would move past a change this device never applied.
    /// </summary>
    internal static void Hold(List<SyncAction> plan, IReadOnlySet<string> names, IReadOnlyDictionary<string, RemoteEntry> remote)
    {
        // The renames' own steps (and their waits) stand for no remote change: one at either name itself is remembered too.
        // A move's new name is planned too: its skip below remembers the change there (once).
        var planned = plan.Where(a => a.LocalCase is null).SelectMany(a => a.ToPath is { } to ? [a.Path, to] : new[] { a.Path }).ToHashSet(StringComparer.Ordinal);
        foreach (var (path, entry) in remote)
        {
            if (!planned.Contains(path) && SyncPaths.IsAtOrUnderAny(path, names))
            {
                plan.Add(new SyncAction(SyncActionKind.Skip, path) { Reason = SyncPlanner.WithheldReason, Remote = entry });
            }
        }

        // The name a step makes here: a move's new name (its old one goes), else its path.
        var folded = names.Select(SyncPaths.CaseFoldKey).ToHashSet(StringComparer.Ordinal);
        bool MakesAFoldedName(SyncAction a) => a.Kind switch
        {
            SyncActionKind.MoveLocal => SyncPaths.IsAtOrUnderAny(SyncPaths.CaseFoldKey(a.ToPath!), folded),
            SyncActionKind.DownloadNew or SyncActionKind.Download or SyncActionKind.CreateLocalFolder or SyncActionKind.Conflict => SyncPaths.IsAtOrUnderAny(SyncPaths.CaseFoldKey(a.Path), folded),
            _ => false,
        };

        for (var i = 0; i < plan.Count; i++)
        {
            var a = plan[i];
            if (a.Kind is SyncActionKind.CaseRenameLocal or SyncActionKind.Skip or SyncActionKind.Wait or SyncActionKind.Hold or SyncActionKind.UploadNew)
            {
                continue; // a plain new file is never at or under a clashing name (NewFileTrees keeps those out)
            }

            if (SyncPaths.IsAtOrUnderAny(a.Path, names) || (a.ToPath is { } to && SyncPaths.IsAtOrUnderAny(to, names)) || MakesAFoldedName(a))
            {
                var change = a.Remote is { } own && own.Path == a.Path ? own : remote.TryGetValue(a.Path, out var seen) ? seen : null;
                plan[i] = new SyncAction(SyncActionKind.Skip, a.Path)
                {
                    // A new download keeps no remote entry (PlannerFastPaths.TakeNewDownloads): its path is remembered alone.
                    Reason = change is null && a.Kind != SyncActionKind.DownloadNew ? LocalCasePlan.NotMadeReason : SyncPlanner.WithheldReason,
                    Remote = change,
                    Base = a.Base,
                };

                // A move's other end is remembered too (a remote move's new name holds the change; its old one only a delete).
                var other = a.ToPath is { } end && a.Remote is { } moved && moved.Path == end ? moved : a.ToPath is { } t && remote.TryGetValue(t, out var there) ? there : null;
                if (other is not null && other.Path != a.Path)
                {
                    plan.Add(new SyncAction(SyncActionKind.Skip, other.Path) { Reason = SyncPlanner.WithheldReason, Remote = other });
                }
            }
        }
    }

    /// <summary>
    /// Looks at the rename of <paramref name="outcome"/> again and makes it: true when renamed here (with its rows where the server moved
    /// them), else false, with the wait it became where it was found written since.
    /// </summary>
    private async Task<(bool Made, SyncAction? Wait)> RenameAsync(LocalCaseOutcome outcome, LocalCaseClash facts, Stability stability, RemoteView remote, List<SyncAction> plan, CancellationToken ct)
    {
        // Right before the rename (and the server's): gone here meanwhile, or its new name made here, it is left alone a
        // pass (a server move then would undo a delete here, or strand the server's copy under a name taken here).
        if (LocalCaseFacts.CannotRenameNow(ctx, outcome) is { } why)
        {
            return LeaveAlone($"case conflict: '{outcome.Path}' is not renamed to '{outcome.Target}' this pass: {why}; looked at again next pass");
        }

        // A file written since its facts were read, or a folder in which a name was made or removed since its walk,
        // waits as it would have then. (A folder in which an earlier rename of the pass was made finds its own mtime
        // moved: it waits a pass, as it did when its walk was read after that rename and found the folder just changed.)
        if (LocalCaseRules.Recheck(outcome, outcome.IsDirectory ? null : LocalCaseFacts.SettlesInNow(ctx, stability, outcome.Path, facts.Synced),
            outcome.IsDirectory && outcome.Walked.Count > 0 ? stability.FolderChangedSinceWalk(outcome.Walked) : null) is { } changed)
        {
            if (changed.Log is { } log)
            {
                ctx.Progress.Log(log);
            }

            return (false, changed.Wait! with { LocalCase = changed });
        }

        var (path, target, onServer) = (outcome.Path, outcome.Target!, outcome.OnServer);
        var movedVersions = new Dictionary<string, (ulong Version, byte[] ContentHash)>(StringComparer.Ordinal);
        var movedFolders = new List<string>();
        var renamedOnServer = onServer.Count > 0;
        if (renamedOnServer && await MoveOnServerAsync(path, target, onServer, movedVersions, movedFolders, ct).ConfigureAwait(false) is { } refused)
        {
            // Refused (changed or moved meanwhile: the next pass's listing shows how, and it follows), it waits a pass;
            // refused again, the rows this pass took for the server's were stale (a path gone there that no listing will
            // show again): it is renamed here alone, as a name only here is, and the next pass matches its files by
            // content (never a retry forever). Planned withheld under both names either way: taken by the next pass.
            renamedOnServer = false;
            memory.RefusedOnServer(path, renamedHereAlone: outcome.HereAloneIfRefused);
            if (!outcome.HereAloneIfRefused)
            {
                return LeaveAlone($"case conflict: '{path}' differs only in case from another name; it could not be renamed to '{target}' on the server ({refused}); tried again next pass");
            }
        }
        else
        {
            memory.RenamedNow(path);
        }

        // Renamed on the server too (or following another device's move there): the rows follow the name. The versions under
        // the folders moved are listed and the rows' moves planned before the rename here, so the intent written right
        // before it holds all they need (CaseRenameIntent): a crash between the rename here and the rows' one db write
        // left rows at the old name and files at the new, which the next pass took for new files and sent (a file another
        // device deleted before the move among them: review ag51); with the intent, the next pass finishes the moves where
        // the rename was made. Nothing under either name is taken this pass; the next finds the files as synced under the new one.
        (List<CaseRenameIntent.Row> Rows, List<RemoteEntry> Gone)? rows = null;
        if (renamedOnServer || outcome.Followed)
        {
            var (rowVersions, listed) = !renamedOnServer || movedFolders.Count == 0 ? (movedVersions, null) : await WithMovedFoldersVersionsAsync(path, target, movedFolders, movedVersions, ct).ConfigureAwait(false);
            rows = RowsToMove(path, target, facts.SyncedUnder, renamedOnServer ? onServer.Select(l => l.Path).ToHashSet(StringComparer.Ordinal) : [], rowVersions,
                remote.Changes, listed is { } live ? (movedFolders.Select(f => target + f[path.Length..]).ToList(), live) : null);
            var renamed = CaseRenameIntent.Seen.At(ctx.FullPath(path)).Identity; // a rename keeps it: how the next pass knows the thing at the new name
            ctx.Db.SetCaseRenameIntent(new CaseRenameIntent(path, target, outcome.IsDirectory, renamed, rows.Value.Rows, rows.Value.Gone).Save());
        }

        ctx.Step?.Invoke($"before case-conflict rename {path} -> {target}");
        var before = outcome.IsDirectory ? null : FileChangeTime.TryStat(ctx.FullPath(path)); // right before: see SendFromNewName
        try
        {
            if (outcome.IsDirectory)
            {
                Directory.Move(ctx.FullPath(path), ctx.FullPath(target));
            }
            else
            {
                File.Move(ctx.FullPath(path), ctx.FullPath(target), overwrite: false);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left alone, a folder with all under it: its files sent under the old name would make on the server the very
            // clash the rename was for. Pending, with a re-check: a passing cause (the new name made meanwhile) clears at
            // the next pass, and neither `sync --once` nor the daemon calls the folder done while its files are only here.
            // Moved on the server already (the new name made here during that move): moved back, conditionally. Left
            // there, the server's copy came down onto the name taken here, the file made here becoming a conflicted copy,
            // while the loser here was renamed again: its content twice. Its intent goes first (a crash after it leaves
            // the next pass to drop it: the old name still holds what was to be renamed).
            if (rows is not null)
            {
                ctx.Db.SetCaseRenameIntent(null);
            }

            var undone = movedVersions.Count == 0 ? string.Empty
                : await MoveBackOnServerAsync(path, target, movedVersions, ct).ConfigureAwait(false) is { } kept
                    ? $"; its move on the server stays ({kept})"
                    : "; moved back on the server";
            return LeaveAlone($"case conflict: could not rename '{path}' to '{target}' ({e.Message}){undone}; left alone this pass, tried again next pass");
        }

        ctx.Step?.Invoke($"after case-conflict rename {path} -> {target}");
        var note = $"case conflict: '{path}' differs only in case from another name; renamed to '{target}' so both sync";
        summary.AddNote(note);
        ctx.Progress.Log(note);
        if (rows is { } moving)
        {
            // One transaction: the rows, the deletes found for them (RowsToMove) and the end of the intent.
            ctx.Db.RecordMoves(CaseRenameIntent.MovesOf(ctx.State, moving.Rows), memory.Followed.RememberedWithGone(moving.Gone));
            _goneBeforeMove.AddRange(moving.Gone);
        }
        else if (LocalCaseSnapshot.TakenUnderNewName(outcome))
        {
            SendFromNewName(plan, target, before);
        }

        return (true, null);
    }

    /// <summary>
    /// A rename not made this pass (<paramref name="note"/> says why): reported pending, so neither <c>sync --once</c> nor
    /// the daemon calls its names done while their files are only here, and looked at again at once (a passing cause, such
    /// as its new name made meanwhile, clears by the next pass).
    /// </summary>
    private (bool Made, SyncAction? Wait) LeaveAlone(string note)
    {
        summary.AddNote(note);
        summary.AddPending();
        summary.RecheckWithin(TimeSpan.Zero);
        return (false, null);
    }

    /// <summary>
    /// A file renamed here alone was read at its old name (<see cref="LocalEntry.ReadAt"/>) and is sent from its new one
    /// this pass: the same inode, whose rename moved only its ctime. Where the file was exactly as read right before the
    /// rename (<paramref name="before"/>: size, mtime, ctime) and is the same inode with the same size and mtime after it,
    /// the plan's steps at the new name take the ctime of after the rename, so the uploader's own checks (before the read
    /// and before the commit) hold it to the bytes read; else they keep the one read, and the uploader finds the file
    /// changed and reads it again. (A write in the instant between that stat and the rename, of the same size with its
    /// mtime put back, is the one it cannot tell from the rename: as with any such write, only its ctime says so.)
    /// </summary>
    private void SendFromNewName(List<SyncAction> plan, string target, FileChangeTime.Stat? before)
    {
        if (before is not { Exists: true } was || FileChangeTime.TryStat(ctx.FullPath(target)) is not { Exists: true } now
            || now.Inode != was.Inode || now.Device != was.Device || !now.IsFileAs(was.Size, was.MtimeTicks))
        {
            return;
        }

        for (var i = 0; i < plan.Count; i++)
        {
            var a = plan[i];
            if ((a.ToPath ?? a.Path) == target && a.Fingerprint is { } fp && fp.Size == was.Size && fp.MtimeTicks == was.MtimeTicks && fp.ChangeTimeNs == was.CtimeNs)
            {
                plan[i] = a with
                {
                    Fingerprint = fp with { ChangeTimeNs = now.CtimeNs },
                    Local = a.Local is { } local ? local with { ChangeTimeNs = now.CtimeNs, ReadAt = null } : null,
                };
            }
        }
    }

    /// <summary>
    /// Moves each of <paramref name="live"/> from under <paramref name="path"/> to under <paramref name="target"/> on the
    /// server, with the version seen (a folder with an entry of its own moves with everything under it: its old path is
    /// added to <paramref name="movedFolders"/>). Null when every move was made; else why the server refused one (changed
    /// or moved meanwhile, or the name taken there): the rest waits for the next pass, which sees what the server holds then.
    /// </summary>
    private async Task<string?> MoveOnServerAsync(string path, string target, IReadOnlyList<(string Path, ulong Version)> live, Dictionary<string, (ulong Version, byte[] ContentHash)> versions,
        List<string> movedFolders, CancellationToken ct)
    {
        foreach (var (from, version) in live)
        {
            if (movedFolders.Exists(f => LocalCaseFacts.Under(from, f)))
            {
                continue; // moved with its folder
            }

            var to = target + from[path.Length..];
            try
            {
                var moved = await ctx.Metadata.MoveFileAsync(new MoveFileRequest { FromPath = from, ToPath = to, BaseVersion = version, Device = ctx.Device }, ct).ConfigureAwait(false);
                if (moved.Entry?.Kind == EntryKind.Folder)
                {
                    movedFolders.Add(from);
                }

                versions[to] = (moved.Entry?.Version is > 0 ? moved.Entry.Version : moved.Sequence, moved.Entry?.ContentHash.ToByteArray() ?? []);
                summary.AddFileMoved();
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.Conflict or ErrorKind.NotFound or ErrorKind.AlreadyExists)
            {
                return e.Message;
            }
        }

        return null;
    }

    /// <summary>
    /// <paramref name="versions"/> (what the moves made, by new path) with the versions the server gave everything under
    /// the folders it moved with their contents (<paramref name="movedFolders"/>, old paths under <paramref name="path"/>),
    /// as a listing of each new folder finds them (<see cref="TakeListedVersions"/>). The server moves a folder with one
    /// change per entry under it, each at a new version, and its reply carries the folder's alone: rows kept at their old
    /// versions went stale, so a later case-conflict rename of a name in it (a clash inside, found once the folder is
    /// entered by the scan) was sent with the old version and refused, then made here alone, and the server's copy came
    /// down and clashed again (the planner property test's seed bSC15w_kmxZ2). Asked now, not left to the next pass's
    /// listing of the moves: there a name under the folder that the scan withholds (that very clash's loser) has its
    /// listed change skipped and its row stays stale. Not listed (the server unreachable now), the rows keep their
    /// versions, as before: what that costs is the retry and fallback of a refused rename. With them, the live paths the
    /// listings hold (<c>Listed</c>: every path under the new folders the server holds right after the move, for
    /// <see cref="GoneBeforeMove"/>); null when not listed, or not whole.
    /// </summary>
    private async Task<(Dictionary<string, (ulong Version, byte[] ContentHash)> Versions, HashSet<string>? Listed)> WithMovedFoldersVersionsAsync(string path, string target,
        List<string> movedFolders, Dictionary<string, (ulong Version, byte[] ContentHash)> versions, CancellationToken ct)
    {
        // Taken only once every moved folder's whole listing is read: a listing that fails part-way leaves every row as it
        // was (the moves' own versions), never some of them at new versions (the loser rule reads them on every device alike).
        var withListed = new Dictionary<string, (ulong Version, byte[] ContentHash)>(versions, StringComparer.Ordinal);
        var live = new HashSet<string>(StringComparer.Ordinal);
        var listedFolder = target;
        try
        {
            foreach (var folder in movedFolders)
            {
                listedFolder = target + folder[path.Length..];
                await foreach (var page in RemoteChanges.ListFilesPagedAsync(ctx.Metadata, listedFolder, includeDeleted: false, ctx.Options.MaxListPages, ct).ConfigureAwait(false))
                {
                    live.UnionWith(page.Entries.Where(e => !e.Deleted).Select(e => e.Path));
                    TakeListedVersions(path, target, listedFolder, page.Entries.Select(e => RemoteEntry.From(e, e.Deleted, e.Version)), p => ctx.State.GetFile(p)?.Kind, withListed);
                }
            }
        }
        catch (DropboxException e)
        {
            // A note, not only a log line: the rows keep the moves' versions. A file another device deleted before the move
            // is not lost track of: the next pass reads its delete from the feed before this move (the cursor stored is
            // older than both) and takes it at the new name (DeletesBeforeCaseMoves). Not looked at again by a later pass:
            // see the README (a later listing reads the server as it is then, against an older view of the feed).
            var note = $"case conflict: the versions under '{listedFolder}' could not be read after its move on the server ({e.Message}); the rows under '{target}' keep theirs, "
                + "and a file another device deleted there just before the move is deleted here by the next pass that reads the change feed (a reconcile before it sends the file back)";
            summary.AddNote(note);
            ctx.Progress.Log(note);
            return (versions, null);
        }

        return (withListed, live);
    }

    /// <summary>
    /// A remote delete at the new path of each of <paramref name="movedRows"/> (the rows <see cref="RowsToMove"/> moved with
    /// the server's move, as it left them) that lies under one of <paramref name="listedFolders"/> (the folders this pass
    /// moved on the server, by new path) and that the whole listing of them, taken right after the move
    /// (<paramref name="listed"/>: its live paths), lacks: the server no longer held it when the folder moved (another
    /// device deleted it, or moved it away, after this pass's listing), so the move did not carry it. Its delete is in the
    /// feed at the old path, which no row holds any more; without this one the file stayed here for good, and the server
    /// never had it. The delete is at the row's version and content, as a delete of the state synced here: the planner
    /// then deletes the file here (to the trash) where it is as synced, and keeps and sends it where it was edited since.
    /// </summary>
    internal static List<RemoteEntry> GoneBeforeMove(IEnumerable<FileRecord> movedRows, IReadOnlyList<string> listedFolders, IReadOnlySet<string> listed) =>
        [.. movedRows.Where(r => !listed.Contains(r.Path) && listedFolders.Any(f => r.Path != f && LocalCaseFacts.Under(r.Path, f)))
            .Select(r => new RemoteEntry(r.Path, r.Kind, r.Version, Deleted: true, r.Size, r.ContentHash, 0))];

    /// <summary>
    /// Adds to <paramref name="versions"/> (by new path) the version and content of each of <paramref name="listed"/> (the
    /// server's entries under <paramref name="listedFolder"/>, moved there from under <paramref name="path"/> with it) that
    /// is live and of the kind of the synced row at its old path (<paramref name="syncedKind"/>): <see cref="RowsToMove"/>
    /// then gives a row the listed version where its content is the synced one (a folder's always), and keeps its own
    /// where another device changed the entry since the move (the next pass applies that change as any).
    /// </summary>
    internal static void TakeListedVersions(string path, string target, string listedFolder, IEnumerable<RemoteEntry> listed, Func<string, FileKind?> syncedKind,
        Dictionary<string, (ulong Version, byte[] ContentHash)> versions)
    {
        foreach (var entry in listed)
        {
            if (!entry.Deleted && LocalCaseFacts.Under(entry.Path, listedFolder) && entry.Path != listedFolder && syncedKind(path + entry.Path[target.Length..]) == entry.Kind)
            {
                versions[entry.Path] = (entry.Version, entry.ContentHash);
            }
        }
    }

    /// <summary>
    /// Undoes the moves <see cref="MoveOnServerAsync"/> made (<paramref name="moved"/>, by new path, with the versions they
    /// made) when the rename here failed after them: each moved back only if it is still at the version its move made,
    /// so nothing another device did since is undone. Null when every one was moved back; else why the server refused
    /// one: that one stays (the others are still tried), and the next pass finds the server as after a crash between
    /// the two renames.
    /// </summary>
    private async Task<string?> MoveBackOnServerAsync(string path, string target, Dictionary<string, (ulong Version, byte[] ContentHash)> moved, CancellationToken ct)
    {
        string? refused = null;
        foreach (var (to, (version, _)) in moved.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            if (version == 0)
            {
                refused ??= $"no version known for '{to}'"; // a base of 0 would move whatever is there
                continue;
            }

            try
            {
                await ctx.Metadata.MoveFileAsync(new MoveFileRequest { FromPath = to, ToPath = path + to[target.Length..], BaseVersion = version, Device = ctx.Device }, ct).ConfigureAwait(false);
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.Conflict or ErrorKind.NotFound or ErrorKind.AlreadyExists)
            {
                refused ??= e.Message;
            }
        }

        return refused;
    }

    /// <summary>
    /// Plans the moves of the rows of <paramref name="synced"/> (the synced paths at or under <paramref name="from"/>, read with the
    /// facts) whose server paths were moved to under <paramref name="to"/> (<paramref name="moved"/>: live on the server
    /// as this pass saw it, all moved by this pass, alone or with their folder, <paramref name="versions"/> the versions
    /// those moves made; or moved by another device, as this pass lists it: <see cref="FollowedMove"/>) there too, in the
    /// db. A row takes the version its move made when the move carried the synced content unchanged, so the move's echo
    /// is nothing to do (<see cref="FollowedVersion"/>); any other keeps its synced version and hash, and the next pass
    /// applies what changed on the server since (an edit, a delete, a further move) as any remote change. A row the
    /// server did not move (its path gone there already, or moved elsewhere before the folder) stays: its file, renamed
    /// here, is then new under the new name, never a synced file the server does not have. (The plan saw the rows so
    /// already, <see cref="LocalCasePlan"/>.) With <paramref name="listed"/> (the folders this pass moved, by new path,
    /// and the live paths their whole listing after the move holds), the rows moved with this pass's own move that the
    /// listing lacks were gone from the server by then (<see cref="GoneBeforeMove"/>): their remote deletes are remembered
    /// (<see cref="FollowedCaseMoves.RememberedWithGone"/>) in the same db transaction as every row's move
    /// (<see cref="LocalDbWriter.RecordMoves"/>), so a crash leaves neither or both (rows moved with nothing remembered kept
    /// such a file here for good; rows moved one at a time, a crash part-way had the next pass send the renamed files again,
    /// undoing the delete). Planned before the rename here, written after it: the rows' moves as the intent holds them
    /// (<see cref="CaseRenameIntent"/>, each with the version it is planned from; <see cref="CaseRenameIntent.MovesOf"/>
    /// makes the db's moves of them, here and for a crashed rename alike), and those deletes.
    /// </summary>
    internal (List<CaseRenameIntent.Row> Rows, List<RemoteEntry> Gone) RowsToMove(string from, string to,
        IReadOnlyList<string> synced, HashSet<string> moved, Dictionary<string, (ulong Version, byte[] ContentHash)> versions,
        IReadOnlyDictionary<string, RemoteEntry> remote, (IReadOnlyList<string> Folders, IReadOnlySet<string> Live)? listed)
    {
        var rows = new List<CaseRenameIntent.Row>();
        var movedWithServer = new List<FileRecord>();
        var goneAtNewPath = new List<FileRecord>();
        foreach (var key in synced)
        {
            var path = to + key[from.Length..];
            var followed = FollowedMove(key, path, remote);
            // A path this pass's view holds deleted on the server (a remembered withheld change looked up after the facts
            // were read) did not move with its folder there: its row stays, and its file is new under the new name.
            if ((!moved.Contains(key) && !followed) || (!followed && remote.TryGetValue(key, out var gone) && gone.Deleted) || ctx.State.GetFile(key) is not { } record)
            {
                continue;
            }

            var version = versions.TryGetValue(path, out var made) ? (made.ContentHash.AsSpan().SequenceEqual(record.ContentHash) ? made.Version : record.Version)
                : followed ? FollowedVersion(record, key, path, remote)
                : record.Version;
            var row = record with { Path = path, Version = version };
            rows.Add(new CaseRenameIntent.Row(key, path, record.Version, version));
            if (moved.Contains(key))
            {
                movedWithServer.Add(row);
            }
            else if (remote.GetValueOrDefault(path) is { Deleted: true })
            {
                goneAtNewPath.Add(row);
            }
        }

        var goneBeforeMove = listed is { } l ? GoneBeforeMove(movedWithServer, l.Folders, l.Live) : [];
        // A followed row whose new path the view holds deleted (moved and then deleted there, or deleted before the move:
        // DeletesBeforeCaseMoves): this pass withholds both names, and a withheld path the server never held (the latter)
        // is looked up as unknown, so its delete is remembered with the rows' moves, as the deletes this pass's own move found.
        goneBeforeMove.AddRange(goneAtNewPath.Select(r => new RemoteEntry(r.Path, r.Kind, r.Version, Deleted: true, r.Size, r.ContentHash, 0)));
        return (rows, goneBeforeMove);
    }

    /// <summary>
    /// True when another device moved the synced path <paramref name="key"/> to <paramref name="path"/> (its name under
    /// the followed one) as <paramref name="remote"/> lists it: the old path's delete names the new path
    /// (<see cref="RemoteEntry.MovedTo"/>), whatever the new end holds since (edited, deleted or moved on by that device
    /// before this one follows: its row follows all the same, and the next pass applies that change to it as any; left
    /// behind, the renamed file was new here and sent again, undoing a delete), or the new end names the old path as its
    /// origin. Never where the new end names another origin (<see cref="RemoteEntry.MovedFrom"/>): an unrelated file there,
    /// whose state the row would take for its own.
    /// </summary>
    internal static bool FollowedMove(string key, string path, IReadOnlyDictionary<string, RemoteEntry> remote)
    {
        var there = remote.GetValueOrDefault(path);
        if (there?.MovedFrom is { } origin && origin != key)
        {
            return false;
        }

        return (remote.TryGetValue(key, out var gone) && gone is { Deleted: true } && gone.MovedTo == path) || there is { Deleted: false } && there.MovedFrom == key;
    }

    /// <summary>
    /// The version the row of <paramref name="record"/> takes at <paramref name="path"/> when it follows another device's
    /// move (<see cref="FollowedMove"/>): the new end's where it is live, linked to the old path and of the same kind and
    /// content (the move's echo is then nothing to do); else its own, with its own hash, so what the server did there
    /// since the move is a remote change against the state synced here.
    /// </summary>
    internal static ulong FollowedVersion(FileRecord record, string key, string path, IReadOnlyDictionary<string, RemoteEntry> remote) =>
        remote.TryGetValue(path, out var there) && there is { Deleted: false } && there.MovedFrom == key && there.Kind == record.Kind
            && (record.Kind == FileKind.Folder || there.ContentHash.AsSpan().SequenceEqual(record.ContentHash))
            ? there.Version
            : record.Version;
}
