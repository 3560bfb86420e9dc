using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Grpc.Core;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The one executor: runs a pass's plan (the planner's actions, the plain new files and new downloads among them) in a fixed order
/// (local case-conflict renames, a stopped client's leftovers, paths leaving for the other kind, local folders, moves and records,
/// transfers, remote folders, deletes). It decides nothing the plan did not say; it works only with what it is given (no engine
/// fields), and reports what the cursor must know through <see cref="HoldCursor"/> and <see cref="ListAllNextPass"/>. One instance
/// per pass. It leaves its case-conflict renames to <see cref="LocalCaseRenames"/>, its deletes here (to the trash, a file written
/// meanwhile put back) to <see cref="LocalDeletes"/>, its moves of leftovers to <see cref="DisplacedFiles"/>, its report of skips to <see cref="SkipReport"/>.
/// </summary>
internal sealed class SyncExecutor : IDisposable
{
    private readonly SyncContext _ctx;
    private readonly FileHasher _hasher;
    private readonly ServerSupport _server;
    private readonly SyncSummary _summary;
    private readonly HashSet<string> _taken;
    private readonly SemaphoreSlim _puts;
    private readonly SemaphoreSlim _gets;
    private readonly Uploader _uploader;
    private readonly FileDownloader _downloader;
    private readonly StorageFailover _failover;
    private readonly LocalDeletes _localDeletes;
    private readonly DisplacedFiles _displaced;
    private NewRemoteCaseRenames _caseRenames;
    private bool _holdCursor;

    /// <param name="ctx">The folder, the db, the remote and the knobs.</param>
    /// <param name="hasher">The engine's hasher (its racy-read count spans the pass).</param>
    /// <param name="server">What the server was found to support (kept for the engine's life).</param>
    /// <param name="summary">This pass's summary.</param>
    /// <param name="takenPaths">Paths a conflicted copy must not take (tracked, changed remotely, or about to be downloaded).</param>
    public SyncExecutor(SyncContext ctx, FileHasher hasher, ServerSupport server, SyncSummary summary, IEnumerable<string> takenPaths)
    {
        _ctx = ctx;
        _hasher = hasher;
        _server = server;
        _summary = summary;
        _taken = new HashSet<string>(takenPaths, StringComparer.Ordinal);
        _puts = new SemaphoreSlim(Math.Max(1, ctx.Options.Parallelism));
        _gets = new SemaphoreSlim(Math.Max(1, ctx.Options.Parallelism));
        _uploader = new Uploader(ctx, summary, _puts, hasher, server);
        _downloader = new FileDownloader(ctx, summary, _gets, ConflictName);
        _failover = new StorageFailover(ctx.Time);
        _localDeletes = new LocalDeletes(ctx, summary, ConflictName);
        _displaced = new DisplacedFiles(ctx, summary, ConflictName);
        _caseRenames = new NewRemoteCaseRenames(ctx, summary, new CaseNamesRefused());
    }

    /// <summary>The engine's memory of "(Case Conflict)" names the server refused (see <see cref="NewRemoteCaseRenames"/>); a pass's own when not given.</summary>
    public CaseNamesRefused CaseNamesRefused { init => _caseRenames = new NewRemoteCaseRenames(_ctx, _summary, value); }

    /// <summary>The ignore rules of the pass's scan (see <see cref="DisplacedFiles.Ignore"/>).</summary>
    public IgnoreTree Ignore { get => _displaced.Ignore; init => _displaced.Ignore = value; }

    /// <summary>Tests: see <see cref="DisplacedFiles.BeforeMove"/>.</summary>
    internal Action<string>? BeforeDisplacedMove { get => _displaced.BeforeMove; init => _displaced.BeforeMove = value; }

    /// <summary>The engine's memory of the server's refusals of local case-conflict renames (see <see cref="LocalCaseRenames"/>); a pass's own when not given.</summary>
    public CaseConflicts? LocalCaseMemory { get; init; }

    /// <summary>Leftovers' copies kept this pass to be sent in it (<see cref="DisplacedRules.KeepReason"/>): the copy's path and the leftover as read.</summary>
    private readonly List<(string Copy, FileFingerprint? Read)> _keptCopies = [];
    /// <summary>
    /// Set when a remote change waits for a local file to settle: the cursor must stay put. A delete's file written
    /// moments ago is one (<see cref="LocalDeletes.HoldCursor"/>).
    /// </summary>
    public bool HoldCursor { get => _holdCursor || _localDeletes.HoldCursor; private set => _holdCursor = value; }

    /// <summary>Set when a remote change could not be applied here: the next pass must list everything.</summary>
    public bool ListAllNextPass { get; private set; }

    public void Dispose()
    {
        _puts.Dispose();
        _gets.Dispose();
    }

    private string ConflictName(string path)
    {
        lock (_taken)
        {
            var name = ConflictNames.Next(path, _ctx.Device, DateOnly.FromDateTime(_ctx.Time.GetLocalNow().DateTime),
                p => _taken.Contains(p) || File.Exists(_ctx.FullPath(p)) || Directory.Exists(_ctx.FullPath(p)));
            _taken.Add(name);
            return name;
        }
    }

    public async Task ExecuteAsync(List<SyncAction> plan, RemoteView remote, CancellationToken ct)
    {
        // A held plan stops the pass before it gets here (the engine reports the hold). Should one arrive anyway, none of it runs:
        // skipping only the Hold step would let the cursor move past the remote changes it held. Nor does any case-conflict rename.
        if (plan.Find(a => a.Kind == SyncActionKind.Hold) is { } hold)
        {
            throw new InvalidOperationException($"A plan the planner held back ({hold.Held?.Reason.ToString() ?? "no reason"}) reached the executor; nothing of it was run.");
        }

        await new LocalCaseRenames(_ctx, _summary, LocalCaseMemory ?? new CaseConflicts(_ctx)).RunAsync(plan, remote, ct).ConfigureAwait(false);
        HoldCursor |= SkipReport.Report(plan, remote, _summary, _ctx.Progress);
        _ctx.Progress.Phase = "applying";
        // A stopped client's hidden leftovers first: a kept one is visible (and sent) before anything moves its folder.
        foreach (var a in plan.Where(a => a.Kind is SyncActionKind.RemoveDisplaced or SyncActionKind.KeepDisplaced))
        {
            await RunAsync(a, ct).ConfigureAwait(false);
        }

        // New remote files that clash in case: renamed on the server (or held) before anything else of the pass.
        foreach (var a in plan.Where(a => a.Kind is SyncActionKind.CaseRenameRemote or SyncActionKind.CaseHoldRemote))
        {
            await RunAsync(a, ct).ConfigureAwait(false);
        }

        // Paths leaving for the other kind remotely go first: what comes down needs the path. A folder's deletes planned
        // under it run with it (they clear it), not again with the other deletes.
        var ranEarly = new HashSet<SyncAction>(ReferenceEqualityComparer.Instance);
        foreach (var a in plan.Where(a => a.Kind == SyncActionKind.KindConflict))
        {
            if (a.Reason == SyncPlanner.FolderAgainstFileReason)
            {
                var prefix = a.Path + "/";
                foreach (var d in plan.Where(d => d.Kind == SyncActionKind.DeleteLocal && d.Path.StartsWith(prefix, StringComparison.Ordinal)))
                {
                    await RunAsync(d, ct).ConfigureAwait(false);
                    ranEarly.Add(d);
                }
            }

            await RunAsync(a, ct).ConfigureAwait(false);
        }

        // Kept leftovers' copies go up after those (a folder that replaced a synced file is clear on the server only then).
        foreach (var (copy, read) in _keptCopies)
        {
            try
            {
                await UploadCopyAsync(copy, read, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is DropboxException or IOException or UnauthorizedAccessException)
            {
                // Counted as any step's error (RunAsync), the pass goes on; the copy is visible: the next pass sends it.
                _summary.AddError($"send the kept copy {copy}: {e.Message}");
                _ctx.Progress.Log($"error: send the kept copy {copy}: {e.Message}");
            }
        }

        // New folders before the moves, except those at or under a file a remote move takes from here (the planner's
        // 'leaving'): the file must have left that path first.
        var movedFrom = plan.Where(a => a.Kind == SyncActionKind.MoveLocal).Select(a => a.Path).ToHashSet(StringComparer.Ordinal);
        var newFolders = plan.Where(a => a.Kind == SyncActionKind.CreateLocalFolder).OrderBy(a => a.Path, StringComparer.Ordinal).ToList();
        var afterMoves = newFolders.Where(a => movedFrom.Count > 0 && SyncPaths.IsAtOrUnderAny(a.Path, movedFrom)).ToHashSet(ReferenceEqualityComparer.Instance);
        foreach (var a in newFolders.Where(a => !afterMoves.Contains(a)))
        {
            await RunAsync(a, ct).ConfigureAwait(false);
        }

        foreach (var a in plan.Where(a => a.Kind is SyncActionKind.MoveLocal or SyncActionKind.MoveRemote || RowSteps.Handles(a.Kind)))
        {
            await RunAsync(a, ct).ConfigureAwait(false);
        }

        // A move not applied here (the file changed after the plan) leaves its file at the path: nothing planned at or
        // under it can be made this pass (a folder, a download), so none is tried.
        var untaken = movedFrom.Where(m => File.Exists(_ctx.FullPath(m))).ToHashSet(StringComparer.Ordinal);
        foreach (var a in newFolders.Where(a => afterMoves.Contains(a) && !UnderUntakenMove(a, untaken)))
        {
            await RunAsync(a, ct).ConfigureAwait(false);
        }

        _ctx.Progress.Phase = "transferring";
        await TransferAsync(
            plan.Where(a => a.Kind == SyncActionKind.Upload).ToList(),
            plan.Where(a => a.Kind is SyncActionKind.Download or SyncActionKind.Conflict && !UnderUntakenMove(a, untaken)).ToList(),
            ct).ConfigureAwait(false);
        var newDownloads = plan.Where(a => a.Kind == SyncActionKind.DownloadNew && !UnderUntakenMove(a, untaken)).Select(a => (a.Path, a.Size)).ToList();
        if (newDownloads.Count > 0)
        {
            // Plain new files: many at once (small ones are bound by round trips, not bytes), one barrier per batch.
            var parallelism = Math.Max(1, _ctx.Options.Parallelism) * 4;
            using var batchGets = new SemaphoreSlim(parallelism);
            var batches = new BatchDownloader(_ctx, _summary, new FileDownloader(_ctx, _summary, batchGets, ConflictName), parallelism);
            foreach (var copy in await batches.DownloadAsync(newDownloads, ct).ConfigureAwait(false))
            {
                await RunAsync(new SyncAction(SyncActionKind.Upload, copy), ct).ConfigureAwait(false);
            }
        }

        foreach (var a in plan.Where(a => a.Kind == SyncActionKind.UploadNew))
        {
            // One stream through the uploader: its groups start as others end, never waiting for a batch to drain.
            await TransferAsync(a.NewFiles!.Actions(), [], ct).ConfigureAwait(false);
        }

        foreach (var a in plan.Where(a => a.Kind == SyncActionKind.CreateRemoteFolder).OrderBy(a => a.Path, StringComparer.Ordinal))
        {
            await RunAsync(a, ct).ConfigureAwait(false);
        }

        _ctx.Progress.Phase = "deleting";
        foreach (var a in plan.Where(a => a.Kind is SyncActionKind.DeleteLocal or SyncActionKind.DeleteRemote && !ranEarly.Contains(a)))
        {
            await RunAsync(a, ct).ConfigureAwait(false);
        }

        foreach (var a in plan.Where(a => a.Kind is SyncActionKind.DeleteLocalFolder or SyncActionKind.DeleteRemoteFolder).OrderByDescending(a => a.Path.Length))
        {
            await RunAsync(a, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The downloads and conflicts in parallel while every upload goes through the one uploader (in groups), so that a
    /// large upload does not hold the pass's downloads back; then, in parallel, the uploads it left to settle (a
    /// conflict, a file changed meanwhile) and those whose group failed as a whole (uploaded alone).
    /// </summary>
    /// <param name="uploads">The uploads, taken as the uploader's groups start (a lazy sequence is held a few groups at a time).</param>
    /// <param name="others">The downloads and conflicts.</param>
    /// <param name="ct">The pass's token.</param>
    private async Task TransferAsync(IEnumerable<SyncAction> uploads, List<SyncAction> others, CancellationToken ct)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, _ctx.Options.Parallelism), CancellationToken = ct };
        Task RunOthersAsync() => others.Count == 0 ? Task.CompletedTask : Parallel.ForEachAsync(others, options,
            async (a, token) => await RunAsync(a, token).ConfigureAwait(false));

        // One transfer at a time (Parallelism 1, as the deterministic simulation runs) means the uploads, then the rest.
        var running = _ctx.Options.Parallelism > 1 ? RunOthersAsync() : null;
        var left = new List<(SyncAction Action, UploadResult? Result)>();
        try
        {
            // Only what is left to settle is kept: a first sync's committed files are not held to the end.
            left.AddRange((await _uploader.UploadAsync(uploads, r => r.Outcome != UploadOutcome.Committed, ct).ConfigureAwait(false))
                .Select(r => (r.Action, r.Outcome is null ? null : (UploadResult?)r)));
        }
        catch (Exception) when (running is not null)
        {
            // The downloads are waited for before the uploader's failure goes up (none is left running behind the
            // caller), and a failure of theirs meanwhile is logged rather than put in its place.
            try
            {
                await running.ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                _ctx.Progress.Log($"error: a download failed while the uploads failed too: {e.Message}");
            }
            catch (OperationCanceledException)
            {
                // Cancelled with the pass: the uploader's failure (or its own cancellation) is what goes up.
            }

            throw;
        }

        await (running ?? RunOthersAsync()).ConfigureAwait(false);

        await Parallel.ForEachAsync(left, options, async (w, token) => await RunAsync(w.Action, token, w.Result).ConfigureAwait(false)).ConfigureAwait(false);
    }

    /// <param name="a">The action.</param>
    /// <param name="ct">The pass's token.</param>
    /// <param name="uploaded">An upload's result from its group, to settle (a retry uploads it again alone).</param>
    private async Task RunAsync(SyncAction a, CancellationToken ct, UploadResult? uploaded = null)
    {
        try
        {
            if (a.Kind == SyncActionKind.Upload)
            {
                // A retry runs the action again only while the file is as planned: an attempt that failed after a step
                // had landed (a deadline on the conflicted copy's commit, after the path took the remote content) would
                // otherwise take the remote content here for the local edit and move it aside as a second copy.
                var attempts = 0;
                await _failover.RunAsync(a.Path, () =>
                {
                    if (attempts++ == 0 && uploaded is not null)
                    {
                        return SettleAsync(uploaded, allowRetryAsNew: true, ct);
                    }

                    if (attempts == 1 || StillAsPlanned(a))
                    {
                        return RunCoreAsync(a, ct);
                    }

                    ReportChanged(a.Path);
                    return Task.CompletedTask;
                }, _ctx.Progress.Log, ct).ConfigureAwait(false);
            }
            else
            {
                await RunCoreAsync(a, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is DropboxException or IOException or UnauthorizedAccessException)
        {
            _summary.AddError($"{a}: {e.Message}");
            _ctx.Progress.Log($"error: {a}: {e.Message}");
        }
    }

    private async Task RunCoreAsync(SyncAction a, CancellationToken ct)
    {
        switch (a.Kind)
        {
            case SyncActionKind.Upload:
                await SettleAsync(await _uploader.UploadOneAsync(a, ct).ConfigureAwait(false), allowRetryAsNew: true, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.DownloadNew:
                // Batched by ExecuteAsync; one that reaches here (a retry, say) downloads as a plain new file.
                await DownloadAsync(a.Path, null, null, null, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.Download:
                // The ctime the plan saw: the read's, else the scan's (a file found unchanged is not read): an in-place
                // edit since, its size and mtime put back, is then kept beside the download, never replaced.
                await DownloadAsync(a.Path, a.Local, a.Fingerprint is { Racy: true } ? a.Base?.ContentHash : null, a.Fingerprint?.ChangeTimeNs ?? a.Local?.ChangeTimeNs, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.Conflict:
                await ConflictAsync(a.Path, a.Fingerprint, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.KindConflict when a.Reason == SyncPlanner.ReplacedHereByFolderReason:
                await DeleteRemoteAsync(a.Path, a.BaseVersion, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.KindConflict when a.Reason == SyncPlanner.StateFolderAgainstFileReason:
                await MoveAsideOnServerAsync(a, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.KindConflict when a.Reason == SyncPlanner.FolderAgainstFileReason:
                await LeaveForFileAsync(a, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.KindConflict:
                await LeaveForFolderAsync(a, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.CaseRenameRemote or SyncActionKind.CaseHoldRemote:
                await _caseRenames.RunAsync(a, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.RemoveDisplaced or SyncActionKind.KeepDisplaced:
                await LeftoverAsync(a, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.DeleteRemote:
                await DeleteRemoteAsync(a.Path, a.BaseVersion, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.DeleteLocal:
                _localDeletes.DeleteLocal(a);
                break;
            case SyncActionKind.MoveRemote:
                await MoveRemoteAsync(a, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.MoveLocal:
                MoveLocal(a);
                break;
            case var kind when RowSteps.Handles(kind):
                RowSteps.Run(_ctx, a);
                break;
            case SyncActionKind.CreateLocalFolder:
                Directory.CreateDirectory(_ctx.WritePath(a.Path));
                _ctx.Db.RecordFolder(a.Path, a.Remote?.Version ?? 0);
                break;
            case SyncActionKind.CreateRemoteFolder:
                await CreateRemoteFolderAsync(a.Path, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.DeleteRemoteFolder:
                await DeleteRemoteFolderAsync(a, ct).ConfigureAwait(false);
                break;
            case SyncActionKind.DeleteLocalFolder:
                _localDeletes.DeleteLocalFolder(a.Path);
                break;
            case SyncActionKind.Skip or SyncActionKind.Wait:
                break;
            case SyncActionKind.Hold:
                throw new System.Diagnostics.UnreachableException($"{a} reached RunCoreAsync: ExecuteAsync refuses a held plan.");
            case SyncActionKind.UploadNew:
                // ExecuteAsync uploads its files in groups (as Upload actions); the action itself is never run.
                throw new System.Diagnostics.UnreachableException($"{a} reached RunCoreAsync: ExecuteAsync uploads an UploadNew's files in groups.");
        }
    }

    private async Task<FileFingerprint> HashAsync(string path, CancellationToken ct) =>
        await _hasher.TryHashAsync(_ctx.FullPath(path), ct).ConfigureAwait(false)
        ?? throw new IOException($"'{path}' changed or vanished while it was read; it will be retried.");

    /// <summary>Uploads a file the executor itself made or found (a conflicted copy, a move that fell back to an upload) as new.</summary>
    private async Task UploadNewAsync(string path, FileFingerprint fp, CancellationToken ct) =>
        await SettleAsync(await _uploader.UploadOneAsync(new SyncAction(SyncActionKind.Upload, path) { Fingerprint = fp }, ct).ConfigureAwait(false), allowRetryAsNew: false, ct).ConfigureAwait(false);

    /// <summary>
    /// Uploads a conflicted copy as new. A rename keeps size and mtime: <paramref name="fp"/> (the plan's read of the file) still
    /// describes the copy unless it was written since, and then it is read again (else the old chunk list would be committed for it).
    /// </summary>
    private async Task UploadCopyAsync(string copy, FileFingerprint? fp, CancellationToken ct) =>
        await UploadNewAsync(copy, fp is not null && Uploader.StillAsHashed(_ctx.FullPath(copy), fp) ? fp : await HashAsync(copy, ct).ConfigureAwait(false), ct).ConfigureAwait(false);

    /// <summary>
    /// A hidden leftover (<see cref="SyncActionKind.RemoveDisplaced"/>, <see cref="SyncActionKind.KeepDisplaced"/>): removed;
    /// or kept as a conflicted copy and sent as a conflict's copy is; or, kept, left to a later pass that sends it as any
    /// new file (the plan said so, or a removal found it written since it was read): pending.
    /// </summary>
    private async Task LeftoverAsync(SyncAction a, CancellationToken ct)
    {
        if ((a.Kind == SyncActionKind.RemoveDisplaced && _displaced.TryRemove(a)) || _displaced.Keep(a) is not { } copy)
        {
            return;
        }

        if (a.Reason == DisplacedRules.KeepReason)
        {
            _keptCopies.Add((copy, a.Fingerprint)); // sent after the KindConflict steps (ExecuteAsync)
            return;
        }

        _summary.AddPending();
        if (a.SettlesIn > TimeSpan.Zero)
        {
            _summary.RecheckWithin(a.SettlesIn);
        }
    }

    /// <summary>What an upload's outcome asks for: nothing once committed, a report when the file changed, the conflict rules when refused.</summary>
    private async Task SettleAsync(UploadResult result, bool allowRetryAsNew, CancellationToken ct)
    {
        var (a, path) = (result.Action, result.Action.Path);
        switch (result.Outcome)
        {
            case UploadOutcome.Committed:
                return;
            case UploadOutcome.Changed:
                ReportChanged(path);
                return;
        }

        // Refused: the server moved on since our base. If the path is gone remotely, it is simply new again.
        GetDownloadPlanResponse? current = null;
        try
        {
            current = await _ctx.Metadata.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = path, Limit = 1 }, ct).ConfigureAwait(false);
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.NotFound)
        {
        }

        if ((current?.Entry is null || current.Entry.Deleted) && allowRetryAsNew)
        {
            var asNew = a with { BaseVersion = 0, Remote = null, Fingerprint = result.Fingerprint ?? a.Fingerprint };
            await SettleAsync(await _uploader.UploadOneAsync(asNew, ct).ConfigureAwait(false), allowRetryAsNew: false, ct).ConfigureAwait(false);
            return;
        }

        await ConflictAsync(path, result.Fingerprint ?? a.Fingerprint, ct).ConfigureAwait(false);
    }

    /// <summary>True when an upload's file still has the size and times the plan saw (hashed or scanned).</summary>
    private bool StillAsPlanned(SyncAction a)
    {
        var full = _ctx.FullPath(a.Path);
        if (a.Fingerprint is { } fp)
        {
            return Uploader.StillAsHashed(full, fp);
        }

        var info = new FileInfo(full);
        return a.Local is not { } scanned || (info.Exists && FileStamp.Of(info) == FileStamp.Of(scanned));
    }

    private void ReportChanged(string path)
    {
        _summary.AddSkipped();
        _summary.AddPending();
        _ctx.Progress.Log($"'{path}' changed while uploading; retried on the next pass");
    }

    /// <summary>Both sides changed: the local edit moves aside to a conflicted copy (then uploads), the remote takes the path.</summary>
    private async Task ConflictAsync(string path, FileFingerprint? fp, CancellationToken ct)
    {
        // The remote side is checked first (its plan within bounds, its path resolvable): a download that would be
        // refused must not cost the local file its name.
        var plan = await _downloader.PlanAsync(path, ct).ConfigureAwait(false);
        var copy = ConflictName(path);
        _ctx.Step?.Invoke($"before conflict rename {path} -> {copy}");
        File.Move(_ctx.WritePath(path), _ctx.WritePath(copy));
        _ctx.Step?.Invoke($"after conflict rename {path} -> {copy}");
        _summary.AddConflict();
        _ctx.Progress.Log($"conflict: '{path}' changed on both sides; your version is kept as '{copy}'");
        var result = plan is null ? DownloadResult.Gone : await _downloader.DownloadAsync(path, null, plan, ct).ConfigureAwait(false);
        if (!result.Placed)
        {
            _ctx.Db.Forget(path);
        }

        _ctx.Progress.FileDone();
        await UploadCopyAsync(copy, fp, ct).ConfigureAwait(false);
        if (result.ConflictCopy is { } second)
        {
            await UploadNewAsync(second, await HashAsync(second, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A file here where the remote side holds a folder now (<see cref="SyncActionKind.KindConflict"/>): it leaves the path
    /// before anything comes down under it. One the plan found as synced goes as a remote delete's would (to the trash);
    /// one that changed, is new, or changed since the plan is moved aside to a conflicted copy and uploaded as new.
    /// </summary>
    private async Task LeaveForFolderAsync(SyncAction a, CancellationToken ct)
    {
        if (a.Reason == SyncPlanner.ReplacedByFolderReason)
        {
            _localDeletes.DeleteLocal(a); // checked as a remote delete is: a file written since stays, its row forgotten
        }

        var full = _ctx.WritePath(a.Path);
        if (File.Exists(full))
        {
            var copy = ConflictName(a.Path);
            _ctx.Step?.Invoke($"before conflict rename {a.Path} -> {copy}");
            File.Move(full, _ctx.WritePath(copy));
            _ctx.Step?.Invoke($"after conflict rename {a.Path} -> {copy}");
            // The row goes with the name: the path is the folder's now (a crash before this finds the file gone and
            // the remote path deleted, and forgets the row then).
            _ctx.Db.Forget(a.Path);
            _summary.AddConflict();
            _ctx.Progress.Log($"conflict: '{a.Path}' is a file here and a folder remotely; your file is kept as '{copy}'");
            await UploadCopyAsync(copy, a.Fingerprint, ct).ConfigureAwait(false);
        }

        if (a.Remote is { Deleted: false, Kind: FileKind.Folder } folder)
        {
            Directory.CreateDirectory(_ctx.WritePath(a.Path));
            _ctx.Db.RecordFolder(a.Path, folder.Version);
        }
    }

    /// <summary>
    /// A folder here where the remote side holds a file now (<see cref="SyncPlanner.FolderAgainstFileReason"/>), its
    /// planned deletes already run: its empty folders go; whatever is left (changed, new, written since) moves aside with
    /// it to a conflicted copy, whose files the next scan finds new and sends; then the file comes down at the path.
    /// </summary>
    private async Task LeaveForFileAsync(SyncAction a, CancellationToken ct)
    {
        var dir = _ctx.WritePath(a.Path);
        if (Directory.Exists(dir))
        {
            RemoveEmptyFolders(dir);
        }

        if (Directory.Exists(dir))
        {
            var copy = ConflictName(a.Path);
            _ctx.Step?.Invoke($"before conflict rename {a.Path} -> {copy}");
            Directory.Move(dir, _ctx.WritePath(copy));
            _ctx.Step?.Invoke($"after conflict rename {a.Path} -> {copy}");
            _summary.AddConflict();
            _summary.AddPending(); // the copy's files are sent by the next pass
            _ctx.Progress.Log($"conflict: '{a.Path}' is a folder here and a file remotely; what was left in your folder is kept as '{copy}'");
        }

        _ctx.Db.Forget(a.Path);
        await DownloadAsync(a.Path, null, null, null, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// A remote file at a folder here that holds the client's state directory (<see cref="SyncPlanner.StateFolderAgainstFileReason"/>):
    /// renamed on the server to a conflicted copy with the version seen, as a case clash's newcomer is renamed there
    /// (<see cref="CaseConflicts"/>), so every device keeps its bytes under the new name; a name the server holds already
    /// is passed over. Changed or gone there meanwhile: that newer state comes after this pass's cursor, and the next
    /// pass decides again.
    /// </summary>
    private async Task MoveAsideOnServerAsync(SyncAction a, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var copy = ConflictName(a.Path);
            try
            {
                await _ctx.Metadata.MoveFileAsync(new MoveFileRequest { FromPath = a.Path, ToPath = copy, BaseVersion = a.BaseVersion, Device = _ctx.Device }, ct).ConfigureAwait(false);
            }
            catch (DropboxException e) when (e.Kind == ErrorKind.AlreadyExists && attempt < NewRemoteCaseRenames.MaxMoves)
            {
                continue; // taken on the server by a path this pass does not hold: ConflictName never picks it again
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.Conflict or ErrorKind.NotFound)
            {
                _summary.AddNote($"'{SyncPaths.Display(a.Path)}' (a file on the server where a folder here holds the client's state directory) changed or went on the server before it could be renamed ({e.Message}); the next pass looks again");
                return;
            }

            _summary.AddConflict();
            _summary.AddPending(); // the copy comes down with the next pass
            _summary.RecheckWithin(TimeSpan.Zero);
            var note = $"conflict: '{SyncPaths.Display(a.Path)}' is a file on the server and a folder here that holds the client's state directory, which cannot move; the file was renamed on the server to '{SyncPaths.Display(copy)}' (for every device) and comes down under that name";
            _summary.AddNote(note);
            _ctx.Progress.Log(note);
            return;
        }
    }

    /// <summary>
    /// True, noted, when <paramref name="a"/> lies at or under a path a remote move could not take from here this pass
    /// (<paramref name="untaken"/>: a file still holds it). Not an error: the next pass lists everything (as the refused
    /// move asked), so it comes again, and reconciles the move first; pending, so a daemon runs that pass soon.
    /// </summary>
    private bool UnderUntakenMove(SyncAction a, HashSet<string> untaken)
    {
        if (untaken.Count == 0 || !SyncPaths.IsAtOrUnderAny(a.Path, untaken))
        {
            return false;
        }

        _summary.AddNote($"skipped '{SyncPaths.Display(a.Path)}': under a file a remote move could not take from here this pass; the next pass reconciles it");
        LeaveForNextListing(); // a file put at the path after its move was applied asked for nothing yet
        return true;
    }

    /// <summary>
    /// Remote work left undone this pass for the next one, which lists everything: skipped and pending (<c>sync --once</c>
    /// says so, and a daemon re-checks within seconds; its remote poll waits while the cursor is cleared).
    /// </summary>
    private void LeaveForNextListing()
    {
        _summary.AddSkipped();
        _summary.AddPending();
        ListAllNextPass = true;
    }

    /// <summary>Deletes the empty folders in <paramref name="dir"/>, deepest first, and <paramref name="dir"/> itself when it is left empty (never a link's target).</summary>
    private static void RemoveEmptyFolders(string dir)
    {
        foreach (var sub in Directory.EnumerateDirectories(dir))
        {
            if (!new DirectoryInfo(sub).Attributes.HasFlag(FileAttributes.ReparsePoint))
            {
                RemoveEmptyFolders(sub);
            }
        }

        if (!Directory.EnumerateFileSystemEntries(dir).Any())
        {
            Directory.Delete(dir);
        }
    }

    private async Task DownloadAsync(string path, LocalEntry? expected, byte[]? racyBaseHash, long? expectedChangeTimeNs, CancellationToken ct)
    {
        var result = await _downloader.DownloadAsync(path, expected, racyBaseHash, expectedChangeTimeNs, ct).ConfigureAwait(false);
        _ctx.Progress.FileDone();
        if (result.Placed)
        {
            _ctx.Progress.Log($"downloaded '{path}'");
        }

        if (result.ConflictCopy is { } copy)
        {
            await UploadNewAsync(copy, await HashAsync(copy, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
        }
    }

    private async Task DeleteRemoteAsync(string path, ulong baseVersion, CancellationToken ct)
    {
        try
        {
            await _ctx.Metadata.DeleteFileAsync(new DeleteFileRequest { Path = path, BaseVersion = baseVersion, Device = _ctx.Device, ExpectedKind = EntryKind.File }, ct).ConfigureAwait(false);
            _summary.AddFileDeleted();
            _ctx.Progress.Log($"deleted remotely '{path}'");
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.NotFound)
        {
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.Conflict)
        {
            // Edited remotely since: the edit wins over our delete; it downloads on the next pass.
            _summary.AddNote($"'{path}' was deleted here but edited remotely; the remote edit is kept");
            return;
        }

        _ctx.Db.Forget(path);
    }

    private async Task MoveRemoteAsync(SyncAction a, CancellationToken ct)
    {
        var to = a.ToPath!;
        try
        {
            var moved = await _ctx.Metadata.MoveFileAsync(new MoveFileRequest { FromPath = a.Path, ToPath = to, BaseVersion = a.BaseVersion, Device = _ctx.Device }, ct).ConfigureAwait(false);
            var chunks = a.Fingerprint?.Chunks ?? _ctx.State.GetChunks(a.Path);
            var version = moved.Entry?.Version is > 0 ? moved.Entry.Version : moved.Sequence;
            // The moved entry is the old one's clone: its bit, so a chmod made with the move is sent next pass.
            // An unknown synced bit: the file here takes the entry's bit (what is read back is recorded).
            var executable = moved.Entry is { Version: > 0 } entry
                ? (a.Base?.Executable is null ? CarriedExecutableBit.Settle(_ctx, _ctx.FullPath(to), a.Fingerprint?.Executable ?? a.Local!.Executable, null, entry.Executable) : entry.Executable)
                : a.Base?.Executable;
            _ctx.Db.RecordMove(a.Path, new FileRecord(to, FileKind.File, a.Local!.Size, RacyClean.Recorded(a.Local.MtimeTicks, a.Fingerprint?.Racy == true), version, a.Fingerprint?.ContentHash ?? a.Base!.ContentHash)
            {
                Executable = executable,
                // As read at the new name: a ctime moved since (a write during the commit, a chmod) differs, and the next scan reads the file.
                ChangeTimeNs = FileChangeTime.ToRecord(a.Fingerprint is { } read ? read.ChangeTimeNs : a.Local?.ChangeTimeNs),
            }, chunks);
            _summary.AddFileMoved();
            _ctx.Progress.Log($"moved remotely '{a.Path}' -> '{to}'");
        }
        catch (DropboxException e) when (e.Kind is ErrorKind.Conflict or ErrorKind.NotFound or ErrorKind.AlreadyExists)
        {
            // The source changed remotely (or is gone): send the new path as a file and the delete as a delete.
            _ctx.Progress.Log($"'{a.Path}' -> '{to}' could not be moved remotely ({e.Message}); uploading instead");
            await UploadNewAsync(to, a.Fingerprint ?? await HashAsync(to, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
            await DeleteRemoteAsync(a.Path, a.BaseVersion, ct).ConfigureAwait(false);
        }
    }

    private void MoveLocal(SyncAction a)
    {
        var from = _ctx.WritePath(a.Path);
        var to = _ctx.WritePath(a.ToPath!);
        var info = new FileInfo(from);
        if (!info.Exists || FileStamp.Of(info) != FileStamp.Of(a.Local!) || FileStamp.ChangeTimeMoved(a.Local!.ChangeTimeNs, FileChangeTime.TryGet(from))
            || File.Exists(to) || Directory.Exists(to))
        {
            _summary.AddNote($"remote move '{a.Path}' -> '{a.ToPath}' not applied here (local changes); the next pass reconciles it");
            LeaveForNextListing();
            return;
        }

        var (row, chunks) = (a.Base!.Path, _ctx.State.GetChunks(a.Base.Path)); // the row's path: a file's, or the old one of a file a followed rename carried (LocalCasePlan.MovesOn)
        Directory.CreateDirectory(Path.GetDirectoryName(to)!);
        _ = _ctx.WritePath(a.ToPath!); // again once the folders exist: none of them may have become a link meanwhile
        _ctx.Step?.Invoke($"before local move {a.Path} -> {a.ToPath}");
        File.Move(from, to);
        _ctx.Step?.Invoke($"after local move {a.Path} -> {a.ToPath}");
        var movedCtime = FileChangeTime.TryGet(to); // the rename moved it
        _localDeletes.RemoveEmptyParents(a.Path);
        var executable = CarriedExecutableBit.Settle(_ctx, to, a.Local!.Executable, a.Base!.Executable, a.Remote!.Executable);
        _ctx.Db.RecordMove(row, new FileRecord(a.ToPath!, FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks, a.Remote.Version, a.Base.ContentHash)
        {
            Executable = executable,
            // The settle's chmod moves it again: the next scan then reads the file once. A file planned with no ctime seen
            // (statx failing then) keeps "read without a ctime", even if statx works again now: its bytes were never read
            // here, and the rename's ctime would vouch for an edit made while none was seen.
            ChangeTimeNs = a.Local!.ChangeTimeNs is null ? FileChangeTime.ReadWithout : FileChangeTime.ToRecord(movedCtime),
        }, chunks);
        _summary.AddFileMoved();
        _ctx.Progress.Log($"moved locally '{a.Path}' -> '{a.ToPath}'");
    }

    private async Task CreateRemoteFolderAsync(string path, CancellationToken ct)
    {
        ulong version = 0;
        try
        {
            var created = await _ctx.Metadata.CreateFolderAsync(new CreateFolderRequest { Path = path, Device = _ctx.Device }, ct).ConfigureAwait(false);
            version = created.Entry?.Version is > 0 ? created.Entry.Version : created.Sequence;
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.AlreadyExists)
        {
        }

        _ctx.Db.RecordFolder(path, version);
    }

    private async Task DeleteRemoteFolderAsync(SyncAction a, CancellationToken ct)
    {
        try
        {
            // Only if empty: a folder deleted here must never take remote files with it (one edited or added
            // elsewhere meanwhile, or one whose delete was just refused because it was edited remotely); and only a
            // folder: the server refuses it when another device has since put a file at this path.
            await _ctx.Metadata.DeleteFileAsync(new DeleteFileRequest { Path = a.Path, BaseVersion = 0, Device = _ctx.Device, OnlyIfEmpty = true, ExpectedKind = EntryKind.Folder }, ct).ConfigureAwait(false);
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.Conflict)
        {
            _summary.AddNote($"folder '{a.Path}' was deleted here but remotely still holds files, or is now a file; it is kept and syncs back");
            _ctx.Progress.Log($"kept remote folder '{a.Path}': {e.Message}");
            return;
        }
        catch (DropboxException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.InvalidArgument)
        {
        }

        _ctx.Db.Forget(a.Path);
    }
}
