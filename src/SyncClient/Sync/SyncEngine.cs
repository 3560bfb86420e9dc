using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// One complete two-way pass: scan the folder → compare with the db (merge base) and the remote changes
/// since the cursor → plan (which holds back mass deletes) → execute → advance the cursor (only when nothing failed, so a failed
/// step is seen again next pass).
/// </summary>
internal sealed class SyncEngine
{
    /// <summary>Up to this many changed paths, their records are looked up one by one rather than by a table scan.</summary>
    private const int LookupLimit = 10_000;

    private readonly SyncContext _ctx;
    private readonly FileHasher _hasher;
    private readonly LocalContent _content;

    /// <summary>What the server was found to support (learned once, kept across passes).</summary>
    private readonly ServerSupport _server = new();

    /// <summary>Remote changes to withheld paths, remembered across passes.</summary>
    private readonly WithheldPaths _withheld;

    /// <summary>Names that differ only in case (the names the server refused are remembered across passes).</summary>
    private readonly CaseConflicts _caseConflicts;

    /// <summary>"(Case Conflict)" names the server refused for new remote files, remembered across passes.</summary>
    private readonly CaseNamesRefused _caseNamesRefused = new();

    public SyncEngine(SyncContext ctx)
    {
        _ctx = ctx;
        _withheld = new WithheldPaths(ctx);
        _hasher = new FileHasher(ctx.Chunker, ctx.Time, ctx.Options.StableAge);
        _content = new LocalContent(ctx, _hasher);
        _caseConflicts = new CaseConflicts(ctx);
    }

    /// <summary>Tests: the most entries the walks of clashing folders read in one pass, together (see <see cref="CaseConflicts"/>).</summary>
    internal int FolderWalkMaxEntries { get; init; } = Stability.MaxFolderEntries;

    /// <summary>Tests: runs with the path of a clashing folder once its walk found it settled, before its rename.</summary>
    internal Action<string>? AfterFolderWalk
    {
        get => _caseConflicts.AfterFolderWalk;
        init => _caseConflicts.AfterFolderWalk = value;
    }

    /// <summary>Tests: runs with the full path of the conflicted-copy name picked for a leftover, right before the move to it.</summary>
    internal Action<string>? BeforeDisplacedMove { get; init; }

    /// <summary>The ignore rules the last pass's scan found (the daemon uses them to drop watcher events for ignored paths).</summary>
    public IgnoreTree LastIgnore => Volatile.Read(ref _lastIgnore);

    private IgnoreTree _lastIgnore = IgnoreTree.BuiltIn;

    /// <summary>
    /// Least time between the listings a changed ignore rule asks for while they keep holding their cursor (a remote
    /// change there waits for a file still written here): the memory of the rules is kept only by a listing pass that
    /// moved its cursor, so without this bound each pass of a daemon listed the whole account for as long as the file
    /// was written (a log appended every second: a listing a second).
    /// </summary>
    internal TimeSpan HeldRuleListingInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Least time between the listings this engine makes for many remembered withheld paths at once (see <see cref="WithheldPaths.ListingInterval"/>).</summary>
    internal TimeSpan WithheldListingInterval { get => _withheld.ListingInterval; set => _withheld.ListingInterval = value; }

    /// <summary>When (the clock's monotonic timestamp) this engine's last listing for a changed rule held its cursor (null: none, or it moved since).</summary>
    private long? _ruleListingHeldAt;

    /// <summary>Files read for hashing over this engine's life (unchanged files are never read).</summary>
    public long FilesHashed => _hasher.FilesRead;

    public async Task<SyncSummary> RunPassAsync(CancellationToken ct)
    {
        if (!Directory.Exists(_ctx.Folder))
        {
            throw new DropboxException(ErrorKind.NotFound,
                $"The sync folder '{_ctx.Folder}' is missing. Nothing was synced and nothing was deleted. If it was moved, renamed or " +
                "lives on a drive that is not mounted, put it back; to link another folder run: login --folder DIR");
        }

        using var passLock = await PassLock.AcquireAsync(_ctx.State.StateDirectory, _ctx.Options.LockWait, ct).ConfigureAwait(false);
        var passStartTicks = DateTimeOffset.UtcNow.UtcTicks; // the file system's clock, not the test-settable one
        var summary = new SyncSummary();
        // A folder that is not the one synced (replaced by an empty one, a drive's empty mount point) stops the pass
        // before anything is listed or deleted, unless confirmed as a new folder (then merged, nothing deleted).
        if (FolderIdentity.Check(_ctx.Folder, _ctx.State, _ctx.Options.ConfirmNewFolder, out var adoptAfterPlan) is { } adopted)
        {
            summary.AddNote(adopted);
            _ctx.Progress.Log(adopted);
        }

        // A case-conflict rename a crash left between the rename here and its rows' db write: finished or dropped before
        // anything reads the db (CaseRenameIntent).
        if (CaseRenameIntent.Resolve(_ctx, _caseConflicts.Followed) is { } resolved)
        {
            summary.AddNote(resolved);
            _ctx.Progress.Log(resolved);
        }

        var progress = _ctx.Progress;
        progress.Reset();
        _hasher.TakeRacyReads(out _); // counted per pass

        var adoptBits = ProbeExecutableBit(summary);
        progress.Phase = "listing remote changes";
        var index = _ctx.State.LoadBaseIndex();
        // Where the executable bit is read must be known before any read: the early ones below take it with the content.
        _hasher.ReadsExecutableBit = _ctx.HoldsExecutableBit;
        await using var early = EarlyReads.Start(index, _ctx.FullPath, _hasher, _ctx.Time, _ctx.Options.StableAge, ct, knownChunks: _ctx.KnownChunksOf);
        // An ignore file there but unreadable has its remembered rules applied by the scan, and is no change meanwhile.
        var ignoreFilesStored = _ctx.State.GetSetting(StateKeys.IgnoreFiles);
        var rememberedIgnoreFile = IgnoreFileMemory.Remembered(ignoreFilesStored, _ctx.State.IgnoreRules.Get);
        var (rulesChanged, ignoreFilesAtStart) = IgnoreFileMemory.Check(ignoreFilesStored, ReadIgnoreFile, rememberedIgnoreFile);
        // A changed rule lists at once, and again at most every HeldRuleListingInterval while its listings hold their cursor.
        if (!rulesChanged)
        {
            _ruleListingHeldAt = null; // the memory caught up (saved by another engine, a reconcile's, say): no wait is owed
        }

        var listForRules = rulesChanged && !(_ruleListingHeldAt is { } heldAt && _ctx.Time.GetElapsedTime(heldAt) < HeldRuleListingInterval);
        if (listForRules)
        {
            summary.AddNote("a .dropboxignore changed or went since the last pass, or a new one has a '!' rule: this pass lists everything, to take what rules kept out");
        }

        var remote = await RemoteChanges.FetchAsync(_ctx.Metadata, _ctx.State.GetSetting(StateKeys.Cursor), _ctx.Options.Reconcile || _ctx.Options.ListAll || adoptBits || listForRules || StateParentFiles.MustList(_ctx),
            e => index.TryGetValue(e.Path, out var stat) && stat.IsSyncedState(e.Kind, e.Version, e.Size, e.ContentHash), _ctx.Options.MaxListPages, _ctx.ReservedPath, ct).ConfigureAwait(false);
        foreach (var refusal in remote.Refused)
        {
            // Refused for what it is, not for anything here: asking again gets the same answer, so the cursor moves
            // past it with the rest of the pass (which goes on without it).
            summary.AddRefused(refusal);
            progress.Log("refused: " + refusal);
        }

        StateParentFiles.Merge(_ctx, remote);
        // Server moves a local case-conflict rename follows and no pass made yet: the cursor moved past them, and only the
        // feed says where a path went, so they are put back in the view before anything reads it.
        ulong? SyncedVersion(string path) => index.TryGetValue(path, out var synced) ? synced.Version : null;
        // The deletes among them, and those put where a case-conflict move would have carried them, are at paths the server
        // never held: kept on while the pass withholds their path (FollowedCaseMoves.StillWithheld).
        var carried = _caseConflicts.Followed.AddTo(remote.Changes, SyncedVersion);
        // A delete read from an old cursor, before a case-conflict move of its folder: where the move would have carried it.
        carried.AddRange(DeletesBeforeCaseMoves.Apply(remote.Changes, SyncedVersion));
        if (remote.MoreChanges)
        {
            summary.AddNote($"the change feed has more than {_ctx.Options.MaxListPages} pages; this pass applies those read and the next reads on");
        }

        if (remote.FullListing && index.Count > 0)
        {
            ReconcileBases(index, remote, summary);
            MoveDetection.LinkListedMoves(remote.Changes, index, OccupiedHere);
            if (_ctx.HoldsExecutableBit)
            {
                AdoptExecutableBits(index, remote);
            }
        }

        if (adoptBits && remote.FullListing && !remote.MoreChanges)
        {
            _ctx.Db.SetExecutableBitHeld("1", resetRows: false); // the adopt saw every file: the rows are good again
        }

        progress.Phase = "scanning";
        // Temp files of downloads killed mid-way (older than this pass, which holds the pass lock) go on the way.
        // The scan observes whether each file it keeps may still be being written; the planner decides what follows.
        var stability = _ctx.Stability();
        var scanner = new LocalScanner(_ctx.Folder, IgnoreMatcher.BuiltIn, _ctx.State.StateDirectory, passStartTicks) { ReadsExecutableBit = _ctx.HoldsExecutableBit, Stability = stability,
            // One read at the start and unreadable since (being written): the bytes read then, which the memory keeps.
            RememberedIgnoreFile = folder => ignoreFilesAtStart.TryGetValue(folder, out var read) && read.Rules is not null ? read : rememberedIgnoreFile(folder) };

        // Paths found exactly as synced, with no remote change, need no decision: they stay out of the snapshot and
        // their full records are never loaded, so a pass holds a small struct per tracked path and objects only for
        // what changed. Plain new files (see NewFiles) stay out too: the plan holds them as one UploadNew, hashed and
        // uploaded in streamed groups.
        // A reconcile pass re-reads everything and so keeps everything.
        // A new name that differs only in case from a live remote one is renamed below, so it is not a plain new file
        // (the planner's rule, PlannerFastPaths.IsPlainNewFile, reads these folded names).
        var remoteFolds = SyncPlanner.RemoteFolds(remote.Changes);
        var newFiles = new NewFiles(new NewFileTrees(index, remote.Changes, remote.Refusals.Paths, remoteFolds), stability);
        // Synced files found clean whose ctime the db does not know yet (rows from before it was kept, or recorded
        // without one): the scan's ctime is recorded for them, so an in-place edit with its mtime put back is seen from
        // now on. That trusts no more than the size and mtime the file was just found clean by.
        var learnedCtimes = new List<(string Path, long Size, long MtimeTicks, long CtimeNs)>();
        var snapshot = _ctx.Options.Reconcile
            ? scanner.Scan((Func<string, FileKind, long, long, bool?, long?, bool>?)null, CaseConflicts.ServerVersionOf(index, remote.Changes), ct)
            : scanner.Scan((path, kind, size, mtime, executable, ctime) => MarkClean(index, remote, path, kind, size, mtime, executable, ctime, learnedCtimes)
                || newFiles.TryAdd(path, kind, size, mtime), CaseConflicts.ServerVersionOf(index, remote.Changes), ct);
        _ctx.Db.RecordUnknownChangeTimes(learnedCtimes);
        learnedCtimes = null;
        // Hidden leftovers of a stopped client: read, with what their rule needs, before the remote view loses its echoes
        // and new downloads (a leftover may hold their bytes); the planner decides each, the executor acts first.
        var displaced = await DisplacedFacts.ReadAsync(_ctx, _hasher, snapshot, index, remote, stability, ct).ConfigureAwait(false);
        PlannerFastPaths.DropEchoes(remote.Changes, index);
        Volatile.Write(ref _lastIgnore, snapshot.Ignore);
        // Nothing at all found (no entry, clean, new or withheld): the folder is empty, which is never taken as "delete
        // everything" without confirmation, however few files were synced.
        var folderEmpty = snapshot.Entries.Count == 0 && snapshot.Withheld.Count == 0 && newFiles.Count == 0 && !index.Values.Any(s => s.Clean);
        var walkBudget = new FolderWalkBudget(FolderWalkMaxEntries, Stability.MaxFolderWalk); // all clashing folders' walks of this pass together
        // Local names that clash in case: their facts are read now (all before any is acted on), the planner decides them
        // and the executor renames them first. The snapshot is edited as the plan will see it (the same pure rule), for
        // what this pass reads before the plan: the withheld lookups, the new remote clashes and downloads, the hashing.
        var caseClashes = _caseConflicts.ReadFacts(snapshot, index, remote, remoteFolds, walkBudget, ct);
        LocalCasePlan.Shape(snapshot, caseClashes);
        WithholdRefused(snapshot, remote);
        var withheldStored = _ctx.State.Withheld.Load();
        var (withheldKeep, withheldInjected) = withheldStored.Count == 0
            ? ([], [])
            : await _withheld.ReexamineWithheldAsync(withheldStored, index, snapshot, remote, newFiles, ct).ConfigureAwait(false);
        newFiles.GiveBack(withheldInjected, snapshot); // and what lies under a looked-up path: it may be a kind clash now
        // Only this pass's count: with nothing remembered (applied meanwhile by another engine: a reconcile's, an after-sleep
        // one, a `sync --once`) the re-examination did not run, and the count it left is an earlier pass's.
        if (withheldStored.Count > 0 && _withheld.WaitingForListing > 0)
        {
            summary.AddPending();
            summary.RecheckWithin(_withheld.ListingDueIn);
            summary.AddNote($"{_withheld.WaitingForListing} remembered remote changes to paths withheld here wait for one listing of them all (at most one every {Format.Duration(_withheld.ListingInterval)}); in {Format.Duration(_withheld.ListingDueIn)}");
        }

        if (_caseConflicts.ReadLookedUpFacts(snapshot, index, remote, withheldInjected, newFiles, walkBudget, caseClashes, ct) is { Count: > 0 } lookedUpClashes)
        {
            caseClashes.AddRange(lookedUpClashes);
            LocalCasePlan.Shape(snapshot, caseClashes); // decided with the first ones (their picks taken)
        }

        // New remote files that clash in case with a name here: the planner's rule decides over what the pass found (renamed
        // on the server by the executor, first; or held), and they are withheld, never downloaded, this pass.
        var newRemoteClashes = NewRemoteCaseRules.Decide(remote.Changes, index, snapshot, newFiles.ByPath().Keys, _ctx.FoldsCase, _caseNamesRefused.Names);

        // Plain new remote files leave the remote view here, a path and a size each (a reconcile pass plans each one by one).
        var newDownloads = _ctx.Options.Reconcile ? [] : PlannerFastPaths.TakeNewDownloads(remote.Changes, index, snapshot, remote.Refusals.Paths, newRemoteClashes);
        var syncedFiles = index.Values.Count(b => b.Kind == FileKind.File);
        if (snapshot.UnnamableFolders.Count > 0 && index.Any(e => e.Value is { Clean: false, Kind: FileKind.File } && !snapshot.Entries.ContainsKey(e.Key)
            && !snapshot.IsWithheld(e.Key) && !snapshot.Ignore.IsIgnored(e.Key, isDirectory: false)))
        {
            // A synced file is gone from its path: the files in folders no path reaches are looked at, for the planner's
            // hold on deletes of files renamed into one (only then: the walk is not every pass's cost).
            snapshot.WalkUnnamableFolders();
        }

        var bases = LoadBases(index);
        var stateParentsHoldingSynced = remote.Refusals.AboveStateDirectory.Keys.Where(f => index.Keys.Any(p => p.StartsWith(f + "/", StringComparison.Ordinal))).ToHashSet(StringComparer.Ordinal);
        index = null;

        foreach (var skipped in snapshot.Skipped)
        {
            summary.AddNote("skipped: " + skipped);
        }

        progress.Phase = "hashing";
        var unreadable = new Dictionary<string, UnreadableFile>(StringComparer.Ordinal);
        var fingerprints = await _content.ReadAsync(snapshot, bases, summary, early, unreadable, ct).ConfigureAwait(false);
        await early.DisposeAsync().ConfigureAwait(false); // a read the pass did not need stops here, not after the transfers

        // The planner holds back a plan that deletes too much without confirmation (a db from before folder markers: its
        // first pass deletes nothing on the server unless confirmed); the pass then stops, nothing synced or deleted.
        var input = new PlanInput
        {
            Base = bases, Local = snapshot, Fingerprints = fingerprints, Unreadable = unreadable, Remote = remote.Changes, Refused = remote.Refusals.Paths, NewLocal = newFiles,
            FilesAboveStateDirectory = remote.Refusals.AboveStateDirectory,
            StateParentsHoldingSynced = stateParentsHoldingSynced,
            NewRemote = newDownloads, LocalCaseClashes = caseClashes, Displaced = displaced, NewRemoteCaseClashes = newRemoteClashes,
            Guard = DeleteGuard.From(_ctx.Options, syncedFiles, folderEmpty: folderEmpty, adoptingOldDb: adoptAfterPlan),
        };
        var plan = SyncPlanner.Plan(input);
        if (_ctx.Options.WaitForStable && SyncPlanner.HeldBack(plan) is null && await _content.WaitForStableAsync(plan, snapshot, fingerprints, unreadable, displaced, ct).ConfigureAwait(false))
        {
            plan = SyncPlanner.Plan(input); // with the files that held still through the wait settled and read
        }

        if (SyncPlanner.HeldBack(plan) is { } held)
        {
            throw MassDeleteGuard.Stop(held, _ctx.Folder);
        }

        if (plan.Exists(a => a.Kind == SyncActionKind.Hold))
        {
            throw new InvalidOperationException("The planner returned a Hold step among other steps; a held plan is a Hold alone. Nothing of it was run.");
        }

        if (adoptAfterPlan)
        {
            FolderIdentity.AdoptAfterPlan(_ctx.Folder, _ctx.State);
        }

        foreach (var a in plan.Where(a => a.Kind == SyncActionKind.UploadNew))
        {
            progress.AddWork(a.NewFiles!.Count, a.NewFiles.Bytes);
        }

        // Saturating: the remote sizes are the server's word, and a server may claim absurd ones.
        progress.AddWork(
            plan.Count(a => a.Kind is SyncActionKind.Upload or SyncActionKind.Download or SyncActionKind.DownloadNew or SyncActionKind.Conflict
                || (a.Kind == SyncActionKind.KeepDisplaced && a.Reason == DisplacedRules.KeepReason)),
            plan.Aggregate(0L, (sum, a) => RemoteBounds.AddSaturating(sum, a.Kind switch
            {
                SyncActionKind.Upload => a.Fingerprint?.Size ?? a.Local?.Size ?? 0,
                SyncActionKind.Download => a.Remote?.Size ?? 0,
                SyncActionKind.DownloadNew => a.Size,
                SyncActionKind.Conflict => RemoteBounds.AddSaturating(a.Remote?.Size ?? 0, a.Local?.Size ?? 0),
                SyncActionKind.KeepDisplaced when a.Reason == DisplacedRules.KeepReason => a.Fingerprint?.Size ?? 0,
                _ => 0,
            })));

        bool holdCursor, listAllNextPass;
        _caseConflicts.Followed.Leave([]); // the executor's to say
        using (var executor = new SyncExecutor(_ctx, _hasher, _server, summary,
            bases.Keys.Concat(remote.Changes.Keys).Concat(plan.Where(a => a.Kind == SyncActionKind.DownloadNew).Select(a => a.Path)))
            { Ignore = snapshot.Ignore, BeforeDisplacedMove = BeforeDisplacedMove, CaseNamesRefused = _caseNamesRefused, LocalCaseMemory = _caseConflicts })
        {
            await executor.ExecuteAsync(plan, remote, ct).ConfigureAwait(false);
            (holdCursor, listAllNextPass) = (executor.HoldCursor, executor.ListAllNextPass);
        }

        var withheldNow = _withheld.RememberWithheld(withheldStored, withheldKeep, withheldInjected, plan, summary);
        _caseConflicts.Followed.KeepWithheld(FollowedCaseMoves.StillWithheld(carried, remote.Changes, withheldNow));

        var cursorSet = summary.Errors == 0 && (listAllNextPass || !holdCursor);
        if (cursorSet)
        {
            // A remote change this pass could not apply asks for a full listing next time instead of moving on; one
            // that waits for a local file to settle keeps the old cursor, so the next pass sees it again. The followed moves
            // of case-conflict renames not made go with the cursor, stored first: a crash between leaves them with the old
            // cursor, whose listing they only add to.
            _caseConflicts.Followed.StoreLeft();
            _ctx.Db.SetCursor(listAllNextPass ? null : remote.Cursor);
        }

        if (_hasher.TakeRacyReads(out var racySettlesIn) is var racy and > 0)
        {
            // Content read too soon after its last write to trust size and mtime from here on: a re-check pass once
            // the stable age is past reads it again (so the final bytes follow without further activity).
            summary.AddRacy(racy, racySettlesIn ?? _ctx.Options.StableAge);
        }

        var now = _ctx.Time.GetUtcNow();
        _ctx.Db.SetPassSetting(StateKeys.LastSync, now.ToString("O"));
        if (_ctx.Options.Reconcile)
        {
            _ctx.Db.SetPassSetting(StateKeys.LastReconcile, now.ToString("O"));
        }

        _ctx.Db.SetPassSetting(StateKeys.LastSummary, summary.ToJson());
        if (cursorSet && (!rulesChanged || remote.FullListing))
        {
            // The memory goes with the cursor: a pass that keeps the old cursor (an error, a remote change held for a file
            // still being written) keeps the old memory too, so a pass that listed for a changed rule lists again; so does
            // one that did not list for it (within the interval after a held listing).
            var (described, kept, unkept) = IgnoreFileMemory.Describe(snapshot.IgnoreFiles, ignoreFilesAtStart, listed: remote.FullListing);
            _ctx.Db.SetIgnoreFiles(described, kept);
            if (unkept.Count > 0)
            {
                _ctx.Progress.Log($"ignore rules not remembered (past the {IgnoreFileMemory.MaxRememberedBytes >> 20} MiB kept): {unkept.Count} .dropboxignore file(s), first in '{unkept[0]}'; while one cannot be read its rules are not applied");
            }
            _ruleListingHeldAt = null;
        }
        else if (listForRules && summary.Errors == 0)
        {
            _ruleListingHeldAt = _ctx.Time.GetTimestamp(); // held: the next listing for the rule waits the interval
        }

        progress.Phase = "done";
        return summary;
    }

    /// <summary>An ignore file's bytes (the folder-relative <paramref name="path"/>), or null and why not (null: gone; the scan notes it); its stamp.</summary>
    private (byte[]? Bytes, string? Refusal, IgnoreFileStamp? Stamp) ReadIgnoreFile(string path) => (IgnoreFileRead.TryRead(_ctx.FullPath(path), out var refusal, out var stamp), refusal, stamp);

    /// <summary>True when anything is at <paramref name="path"/> here, a link (dangling or not) included, or it cannot be told.</summary>
    private bool OccupiedHere(string path)
    {
        var full = _ctx.FullPath(path);
        try
        {
            return Path.Exists(full) || new FileInfo(full).LinkTarget is not null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return true;
        }
    }

    /// <summary>
    /// With a full listing, a db row whose path the server has never heard of means the db and the server
    /// diverged: forget the row so the path is treated as new (uploaded if it still exists here), never deleted.
    /// </summary>
    private void ReconcileBases(Dictionary<string, BaseStat> index, RemoteView remote, SyncSummary summary)
    {
        List<string>? unknown = null;
        foreach (var path in index.Keys)
        {
            // A path whose entry was refused is known to the server, only not taken: it keeps its row.
            if (!remote.Changes.ContainsKey(path) && !remote.IsRefused(path))
            {
                (unknown ??= []).Add(path);
            }
        }

        foreach (var path in unknown ?? [])
        {
            index.Remove(path);
            _ctx.Db.Forget(path);
            summary.AddRepair($"'{path}' was recorded as synced but the server does not know it; treated as new");
        }
    }

    /// <summary>
    /// Asks the executable-bit probe (again, if it could not tell before) and stores a definite answer. Where the answer
    /// turns to "holds" from "cannot" (stored "0"; the migration that adds the bit column stores it too, since its rows
    /// were written without the bit), every recorded bit is untrustworthy (a download's bit never applied, 0755 read
    /// from vfat): each is made unknown and "adopting" is stored with the time of the reset, in one transaction. Every
    /// pass then lists everything until one completes <see cref="AdoptExecutableBits"/>, which stores "1". A db with
    /// the column but no stored answer (the build before the answer was stored) kept good bits: it keeps its rows, and
    /// stores "1" when none is unknown; else (the rows its migration added, NULL) "adopting-unknown" with this time, so
    /// those are adopted as after a reset, except that a +x here is never cleared (see <see cref="AdoptExecutableBits"/>;
    /// a chmod of one made from now on is sent; the others keep their bits).
    /// True when this pass must list everything to adopt.
    /// </summary>
    private bool ProbeExecutableBit(SyncSummary summary)
    {
        if (_ctx.ProbeExecutableBit() is not { } holds)
        {
            summary.AddNote("could not tell whether the folder holds the executable bit; it is left alone this pass");
            return false;
        }

        var stored = _ctx.State.GetSetting(StateKeys.ExecutableBitHeld);
        if (!holds)
        {
            if (stored != "0")
            {
                _ctx.Db.SetExecutableBitHeld("0", resetRows: false);
            }

            return false;
        }

        if (stored is null && !_ctx.State.HasUnknownExecutableBits())
        {
            _ctx.Db.SetExecutableBitHeld("1", resetRows: false);
            return false;
        }

        if (stored is null or "0")
        {
            // The filesystem stamps ctimes from a clock that never runs ahead of this one: a change made before the reset
            // always reads older (one made within a clock tick after it may read older too, and is then taken as not the user's).
            // Unknown rows with no stored answer have been unknown since a migration whose time is not known: this time
            // stands for it, and they are adopted as "adopting-unknown": this folder held the bit all along (no "0"
            // marker), so a +x here may be the user's on a file a bit-less build uploaded -x, and is never cleared.
            var resetNs = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;
            var prefix = stored == "0" ? AdoptingPrefix : AdoptingUnknownPrefix;
            _ctx.Db.SetExecutableBitHeld(prefix + resetNs.ToString(CultureInfo.InvariantCulture), resetRows: stored == "0");
            return true;
        }

        return stored.StartsWith(AdoptingPrefix, StringComparison.Ordinal) || stored.StartsWith(AdoptingUnknownPrefix, StringComparison.Ordinal);
    }

    /// <summary>The stored exec-bit answer while rows reset to unknown wait for a completed adopt: this, then the reset's Unix time in ns.</summary>
    private const string AdoptingPrefix = "adopting:";

    /// <summary>
    /// As <see cref="AdoptingPrefix"/>, for the unknown rows of a db that stored no answer (its folder held the bit all
    /// along, nothing was reset): a +x here is kept (see <see cref="AdoptExecutableBits"/>).
    /// </summary>
    private const string AdoptingUnknownPrefix = "adopting-unknown:";

    /// <summary>
    /// The Unix time (ns) when the rows were reset for the pending adopt (0 when none is pending or it cannot be read),
    /// and whether it is an adopt of <see cref="AdoptingUnknownPrefix"/> (a +x here is kept).
    /// </summary>
    private (long SinceNs, bool KeepsLocalExecutable) PendingAdopt()
    {
        var stored = _ctx.State.GetSetting(StateKeys.ExecutableBitHeld);
        var keeps = stored is not null && stored.StartsWith(AdoptingUnknownPrefix, StringComparison.Ordinal);
        var prefix = keeps ? AdoptingUnknownPrefix : AdoptingPrefix;
        var since = stored is not null && stored.StartsWith(prefix, StringComparison.Ordinal)
            && long.TryParse(stored.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var ns)
            ? ns
            : 0;
        return (since, keeps);
    }

    /// <summary>
    /// With a full listing where the folder holds the bit: each synced file whose bit is unknown, is unchanged here and
    /// whose synced version is the server's current one takes the server's bit. The file gets it (chmod) when it reads
    /// otherwise, and the bit read back is recorded, so a later chmod here is a change that is sent.
    /// </summary>
    private void AdoptExecutableBits(Dictionary<string, BaseStat> index, RemoteView remote)
    {
        var (since, keepsLocalExecutable) = PendingAdopt();
        foreach (var (path, stat) in index)
        {
            if (stat.Kind != FileKind.File || stat.Executable is not null
                || !remote.Changes.TryGetValue(path, out var r) || r.Deleted || r.MovedFrom is not null || r.MovedTo is not null
                || !stat.IsSyncedState(r.Kind, r.Version, r.Size, r.ContentHash))
            {
                continue;
            }

            var full = _ctx.FullPath(path);
            FileInfo info;
            try
            {
                info = new FileInfo(full);
                if (!info.Exists || info.LinkTarget is not null || FileStamp.Of(info) != FileStamp.Of(stat))
                {
                    continue; // changed here (or gone): the scan and the planner decide
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            // A bit here that differs and whose file changed (chmod) after the rows were reset is the user's: the row
            // takes the server's bit, so the scan sees the chmod and sends it. So is a +x here on a row unknown since the
            // migration of a db that stored no answer (this folder held the bit all along; the server's -x may be from a
            // build that did not send it): never cleared, it is sent. Otherwise the file takes the server's.
            var here = ExecutableBit.TryRead(full);
            var chmodSinceReset = since > 0 && FileChangeTime.TryGet(full) is { } ctime && ctime > since;
            var usersBit = chmodSinceReset || (keepsLocalExecutable && here == true);
            var bit = here == r.Executable || usersBit ? r.Executable : ExecutableBit.Apply(full, r.Executable);
            _ctx.Db.SetExecutableBit(path, bit);
            ref var slot = ref CollectionsMarshal.GetValueRefOrNullRef(index, path);
            slot = slot with { Executable = bit };
        }
    }

    /// <summary>
    /// Paths whose remote entry was refused are left alone on both sides, as withheld ones are: the remote state is
    /// unknown, so neither an upload (it would conflict and move the local file aside) nor a delete is planned.
    /// </summary>
    private static void WithholdRefused(LocalSnapshot snapshot, RemoteView remote)
    {
        foreach (var path in remote.Refusals.Paths)
        {
            if (SyncPaths.TryCheckRemote(path, out _))
            {
                snapshot.Entries.Remove(path);
                snapshot.Withheld.Add(path);
            }
        }
    }

        /// <summary>Full records of the tracked paths that need a decision (not marked clean by the scan).</summary>
    private Dictionary<string, FileRecord> LoadBases(Dictionary<string, BaseStat> index)
    {
        var pending = new List<string>();
        foreach (var (path, stat) in index)
        {
            if (!stat.Clean)
            {
                pending.Add(path);
                if (pending.Count > LookupLimit)
                {
                    // Many: one pass over the table beats a lookup each.
                    return _ctx.State.LoadFiles(p => !(index.TryGetValue(p, out var s) && s.Clean));
                }
            }
        }

        return _ctx.State.LoadFiles(pending);
    }

    /// <summary>
    /// True (and the index entry marked <see cref="BaseStat.Clean"/>) when a scanned path is exactly as last synced and the
    /// remote side has nothing new for it (no change, or one that only echoes the synced state): the planner would decide
    /// nothing, so the path needs no entry in this pass. The remote view is not touched: the echoes of clean paths are
    /// dropped from it after the scan, by <see cref="PlannerFastPaths.DropEchoes"/>. A file whose ctime is not the recorded
    /// one (moved, or not read this time: <see cref="FileStamp.ChangeTimeAsRecorded"/>, the planner's rule) is not clean even
    /// with its size and mtime as synced: the planner has it read. A clean file whose recorded ctime is unknown and that the
    /// scan read one of goes on <paramref name="learned"/>.
    /// </summary>
    internal static bool MarkClean(Dictionary<string, BaseStat> index, RemoteView remote, string path, FileKind kind, long size, long mtimeTicks, bool? executable = false,
        long? ctimeNs = null, List<(string Path, long Size, long MtimeTicks, long CtimeNs)>? learned = null)
    {
        ref var stat = ref CollectionsMarshal.GetValueRefOrNullRef(index, path);
        if (Unsafe.IsNullRef(ref stat) || stat.Kind != kind)
        {
            return false;
        }

        if (kind == FileKind.File && (FileStamp.Of(stat) != new FileStamp(size, mtimeTicks) || ExecutableBit.Differs(stat.Executable, executable)
            || !FileStamp.ChangeTimeAsRecorded(stat.ChangeTimeNs, ctimeNs)))
        {
            return false;
        }

        if (remote.Changes.TryGetValue(path, out var r) && !PlannerFastPaths.IsEcho(r, stat))
        {
            return false;
        }

        stat.Clean = true;
        if (kind == FileKind.File && stat.ChangeTimeNs == 0 && ctimeNs is { } learnedCtime && learned is not null)
        {
            learned.Add((path, size, mtimeTicks, learnedCtime));
            stat.ChangeTimeNs = learnedCtime;
        }

        return true;
    }
}
