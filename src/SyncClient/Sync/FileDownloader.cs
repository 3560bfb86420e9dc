using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.IO;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Download plan → each chunk copied from a local file that already holds it (re-hashed) or fetched
/// and verified → temp file beside the target → fsync → final check that the local file did not change
/// since the plan (else it is kept as a conflicted copy) → rename into place → record.
/// </summary>
internal sealed class FileDownloader
{
    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;
    private readonly SemaphoreSlim _gets;
    private readonly Func<string, string> _conflictName;

    public FileDownloader(SyncContext ctx, SyncSummary summary, SemaphoreSlim gets, Func<string, string> conflictName)
    {
        _ctx = ctx;
        _summary = summary;
        _gets = gets;
        _conflictName = conflictName;
    }

    /// <summary>Test seam: runs in <see cref="PlaceAsync"/> after the checks, just before the rename into place.</summary>
    internal Func<StagedDownload, Task>? BeforeRename { get; set; }

    /// <summary>Tests: runs right after the exchange, the displaced file at the conflicted-copy name, before it is looked at.</summary>
    internal Func<StagedDownload, Task>? BeforeDisplacedCheck { get; set; }

    /// <param name="path">Relative path.</param>
    /// <param name="expectedLocal">The local file as the plan saw it (null: absent).</param>
    public Task<DownloadResult> DownloadAsync(string path, LocalEntry? expectedLocal, CancellationToken ct) =>
        DownloadAsync(path, expectedLocal, null, null, null, ct);

    /// <param name="path">Relative path.</param>
    /// <param name="expectedLocal">The local file as the plan saw it (null: absent).</param>
    /// <param name="racyBaseHash">
    /// When the plan took the local file as unchanged on content read while its mtime was younger than the stable
    /// age (<see cref="FileFingerprint.Racy"/>): the synced content hash it matched. Size and mtime cannot vouch for
    /// such a file, so it is read again before it is replaced (see <see cref="LocalChangedSincePlanAsync"/>).
    /// </param>
    /// <param name="ct">Cancellation.</param>
    public Task<DownloadResult> DownloadAsync(string path, LocalEntry? expectedLocal, byte[]? racyBaseHash, CancellationToken ct) =>
        DownloadAsync(path, expectedLocal, null, racyBaseHash, null, ct);

    /// <param name="path">Relative path.</param>
    /// <param name="expectedLocal">The local file as the plan saw it (null: absent).</param>
    /// <param name="racyBaseHash">See <see cref="DownloadAsync(string, LocalEntry?, byte[]?, CancellationToken)"/>.</param>
    /// <param name="expectedChangeTimeNs">
    /// The local file's ctime when the plan read it (<see cref="FileFingerprint.ChangeTimeNs"/>; null when the plan did
    /// not read it): a file whose ctime moved since was written to, even with its size and mtime put back, and is kept.
    /// </param>
    /// <param name="ct">Cancellation.</param>
    public Task<DownloadResult> DownloadAsync(string path, LocalEntry? expectedLocal, byte[]? racyBaseHash, long? expectedChangeTimeNs, CancellationToken ct) =>
        DownloadAsync(path, expectedLocal, null, racyBaseHash, expectedChangeTimeNs, ct);

    /// <param name="path">Relative path.</param>
    /// <param name="expectedLocal">The local file as the plan saw it (null: absent).</param>
    /// <param name="checkedPlan">A plan already obtained with <see cref="PlanAsync"/> (null: ask for it now).</param>
    /// <param name="ct">Cancellation.</param>
    public Task<DownloadResult> DownloadAsync(string path, LocalEntry? expectedLocal, GetDownloadPlanResponse? checkedPlan, CancellationToken ct) =>
        DownloadAsync(path, expectedLocal, checkedPlan, null, null, ct);

    /// <summary>
    /// The download plan of <paramref name="path"/>, checked (<see cref="RemoteBounds.CheckPlan"/>) and the path
    /// resolved, before anything is touched; null when the path is gone remotely.
    /// </summary>
    /// <exception cref="DropboxException">The plan or the path is refused.</exception>
    public async Task<GetDownloadPlanResponse?> PlanAsync(string path, CancellationToken ct)
    {
        GetDownloadPlanResponse plan;
        try
        {
            plan = await _ctx.Metadata.GetDownloadPlanAsync(DownloadPlans.FirstPage(path), ct).ConfigureAwait(false);
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.NotFound)
        {
            return null;
        }

        if (plan.Entry is null || plan.Entry.Deleted)
        {
            return null;
        }

        _ = _ctx.WritePath(path);
        _ = RemoteBounds.CheckPlan(path, plan);
        return plan;
    }

    /// <param name="path">Relative path.</param>
    /// <param name="expectedLocal">The local file as the plan saw it (null: absent).</param>
    /// <param name="checkedPlan">A plan already obtained with <see cref="PlanAsync"/> (null: ask for it now).</param>
    /// <param name="ct">Cancellation.</param>
    /// <param name="expectedChangeTimeNs">See <see cref="DownloadAsync(string, LocalEntry?, byte[]?, long?, CancellationToken)"/>.</param>
    private async Task<DownloadResult> DownloadAsync(string path, LocalEntry? expectedLocal, GetDownloadPlanResponse? checkedPlan, byte[]? racyBaseHash, long? expectedChangeTimeNs, CancellationToken ct)
    {
        using var staged = await StageAsync(path, expectedLocal, checkedPlan, racyBaseHash, ct).ConfigureAwait(false);
        if (staged is null)
        {
            return DownloadResult.Gone;
        }

        staged.ExpectedChangeTimeNs = expectedChangeTimeNs;

        // One file: its own barrier (bytes durable, then the rename, then the folder's entry, then the db).
        _ctx.Barrier.FlushFiles(_ctx.Folder, [staged.Handle!]);
        staged.Close();
        var placed = await PlaceAsync(staged, ct).ConfigureAwait(false);
        _ctx.Barrier.FlushDirectories([staged.Directory, .. staged.NewFolderParents ?? []]);
        _ctx.Db.RecordFile(placed.Record, staged.Chunks);
        _summary.AddFileDownloaded();
        return new DownloadResult(true, placed.ConflictCopy);
    }

    /// <summary>
    /// The first half of a download: plan (unless given), every chunk copied from a local file or fetched and verified,
    /// written at its offset into a new temp file beside the target, the server's mtime set. The temp file is left open
    /// and NOT durable: the caller runs the barrier (<see cref="IDurabilityBarrier.FlushFiles"/>) over it, then
    /// <see cref="PlaceAsync"/>. Null when the path is gone remotely. On failure nothing is left behind.
    /// </summary>
    public async Task<StagedDownload?> StageAsync(string path, LocalEntry? expectedLocal, GetDownloadPlanResponse? checkedPlan, byte[]? racyBaseHash, CancellationToken ct)
    {
        if ((checkedPlan ?? await PlanAsync(path, ct).ConfigureAwait(false)) is not { } plan)
        {
            return null;
        }

        var size = plan.Entry.Size;
        var staged = Create(path, plan, expectedLocal, racyBaseHash);
        try
        {
            var chunks = staged.Chunks;
            chunks.Capacity = Math.Max(plan.Chunks.Count, (int)Math.Min(plan.TotalChunks, RemoteBounds.MaxChunksPerFile));
            ulong received = 0;
            long written = 0;

            // A window of chunks in flight, written strictly in order at their offsets; each chunk's pooled buffer goes
            // back to the pool once written, so memory is the window, not the file.
            // Later pages of the plan are asked for as the window reaches them.
            var window = new Queue<Task<ChunkBuffer>>();
            await using var gets = DownloadPlans.ChunksAsync(_ctx.Metadata, path, plan, ct).GetAsyncEnumerator(ct);

            // A large file goes to the device without a copy into the page cache (see DirectFileWriter); the barrier
            // still makes it durable before it is renamed into place.
            await using var direct = size >= DirectFileWriter.MinFileBytes ? DirectFileWriter.Open(staged.Handle!) : null;
            try
            {
                var more = await gets.MoveNextAsync().ConfigureAwait(false);
                var limit = Math.Max(1, _ctx.Options.Parallelism);
                while (more || window.Count > 0)
                {
                    while (more && window.Count < limit)
                    {
                        // Later pages are checked as they come: every chunk within bounds, never more bytes
                        // than the file is said to hold, and exactly that many at the end (below).
                        var chunk = RemoteBounds.CheckChunk(path, gets.Current);
                        received += (ulong)chunk.Size;
                        if (received > size)
                        {
                            throw RemoteBounds.BadPlan(path, $"its chunks add up to more than the {size} bytes the file is said to be");
                        }

                        chunks.Add(chunk);
                        window.Enqueue(ObtainAsync(gets.Current, chunk, ct));
                        more = await gets.MoveNextAsync().ConfigureAwait(false);
                    }

                    using var plain = await window.Dequeue().ConfigureAwait(false);
                    if (direct is not null)
                    {
                        await direct.WriteAsync(plain.Memory, ct).ConfigureAwait(false);
                    }
                    else
                    {
                        await RandomAccess.WriteAsync(staged.Handle!, plain.Memory, written, ct).ConfigureAwait(false);
                    }

                    written += plain.Length;
                    _ctx.Progress.AddBytes(plain.Length);
                }
            }
            finally
            {
                await ReleaseWindowAsync(window).ConfigureAwait(false);
            }

            if (received != size)
            {
                throw RemoteBounds.BadPlan(path, $"its chunks add up to {received} bytes but the file is said to be {size} bytes");
            }

            if (direct is not null)
            {
                await direct.CompleteAsync(ct).ConfigureAwait(false);
            }

            SetTime(staged);
            var done = staged;
            staged = null;
            return done;
        }
        finally
        {
            staged?.Dispose();
        }
    }

    /// <summary>
    /// A new, empty temp file for <paramref name="path"/> beside its target (the path resolved with
    /// <see cref="SyncContext.WritePath"/>, the plan checked with <see cref="RemoteBounds.CheckPlan"/>, folders created).
    /// </summary>
    /// <param name="path">Relative path.</param>
    /// <param name="plan">Its download plan.</param>
    /// <param name="expectedLocal">The local file as the plan saw it (null: absent).</param>
    /// <param name="racyBaseHash">See <see cref="DownloadAsync(string, LocalEntry?, byte[]?, CancellationToken)"/>.</param>
    /// <param name="madeDirectories">
    /// Folders this caller already created (or found) for earlier temp files, each with the folders holding new folders'
    /// entries made for it (<see cref="StagedDownload.NewFolderParents"/>, given to every file in it), and where this
    /// one's is added: a batch of files in a few folders then makes each folder once, not once per file. Should such a
    /// folder be removed meanwhile, the temp file's create fails and that file is reported; nothing is written elsewhere.
    /// </param>
    internal StagedDownload Create(string path, GetDownloadPlanResponse plan, LocalEntry? expectedLocal, byte[]? racyBaseHash, Dictionary<string, IReadOnlyList<string>?>? madeDirectories = null)
    {
        var full = _ctx.WritePath(path);
        _ = RemoteBounds.CheckPlan(path, plan);
        var directory = Path.GetDirectoryName(full)!;
        if (madeDirectories is null || !madeDirectories.TryGetValue(directory, out var newFolderParents))
        {
            newFolderParents = MakeFolders(directory);
            madeDirectories?.Add(directory, newFolderParents);
        }

        var staged = new StagedDownload(path, full, Path.Combine(directory, TempName.New()), plan, expectedLocal, racyBaseHash) { NewFolderParents = newFolderParents };
        try
        {
            staged.Handle = File.OpenHandle(staged.Temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.Asynchronous);
            var done = staged;
            staged = null;
            return done;
        }
        finally
        {
            staged?.Dispose();
        }
    }

    /// <summary>
    /// Creates <paramref name="directory"/> and any missing folder above it; returns the folders holding the new ones'
    /// entries (null when none was made): they are synced with the download's own folder, before it is recorded, so a
    /// power cut cannot take a recorded file away with its new folder (ext4 and xfs order this by their journal, POSIX
    /// does not). An existing folder costs one stat, as Directory.CreateDirectory's own look.
    /// </summary>
    private static List<string>? MakeFolders(string directory)
    {
        if (Directory.Exists(directory))
        {
            return null;
        }

        // Up to the first folder that exists (the sync folder at the latest, which the caller's path lies under).
        var parents = new List<string>();
        for (var missing = directory; Path.GetDirectoryName(missing) is { } parent; missing = parent)
        {
            parents.Add(parent);
            if (Directory.Exists(parent))
            {
                break;
            }
        }

        Directory.CreateDirectory(directory);
        return parents;
    }

    /// <summary>
    /// Gives a fully written temp file the server's modification time (or notes why not), then notes the file's size and
    /// modification time as the file system holds them (<see cref="StagedDownload.Written"/>, read from the open handle):
    /// what the record of the download says, since those are the bytes that were checked.
    /// </summary>
    internal void SetTime(StagedDownload staged)
    {
        var entry = staged.Plan.Entry;
        if (RemoteBounds.TryMtime(entry.MtimeUnixMs, out var mtime))
        {
            File.SetLastWriteTimeUtc(staged.Handle!, mtime);
        }
        else if (entry.MtimeUnixMs != 0)
        {
            _summary.AddNote($"'{SyncPaths.Display(staged.Path)}': the server's modification time ({entry.MtimeUnixMs} ms since 1970) is out of range; the file keeps the time it was downloaded");
        }

        // The size is the plan's: every caller checked that its chunks, all written, add up to exactly that.
        staged.Written = new FileStamp(checked((long)entry.Size), File.GetLastWriteTimeUtc(staged.Handle!).Ticks);

        // A download that may replace a file notes its inode while it is open: a put-back deletes only this file.
        if (staged.ExpectedLocal is not null)
        {
            staged.Inode = FileChangeTime.TryInode(staged.Handle!);
        }
    }

    /// <summary>
    /// The second half of a download, once the barrier made the temp file durable: the final checks (no link on the way,
    /// no folder at the name, the local file as the plan saw it, else it is kept as a conflicted copy), then the rename
    /// into place. The caller makes the folder's entry durable, then records <see cref="PlacedDownload.Record"/>.
    /// </summary>
    /// <remarks>
    /// The rename itself never replaces what the checks did not see (Linux): where the plan expected nothing, it fails if
    /// anything appeared at the name (<see cref="FileRename.MoveNew"/>), which is then kept as a conflicted copy; where
    /// the plan expected a file, it exchanges the two (<see cref="FileRename.Exchange"/>) and looks at the file it
    /// displaced, kept as a conflicted copy unless it is still the one the plan saw. Where renameat2 is not available,
    /// the checks alone stand: a local write between them and the rename is then overwritten (see the README).
    /// </remarks>
    public async Task<PlacedDownload> PlaceAsync(StagedDownload staged, CancellationToken ct)
    {
        var path = staged.Path;
        var full = staged.Full;

        // The record says what was written and checked, never what is at the name once it is there (a local write may
        // land there at once): a caller that skipped SetTime is a bug, refused before anything is moved.
        var written = staged.Written ?? throw new InvalidOperationException($"'{path}' is about to be placed before SetTime noted its size and time.");

        // Checked again before anything is moved: a folder on the way (or the name itself) that became a link while
        // the bytes came in is refused, the local file stays where it is and the temp file is deleted by the caller.
        _ = _ctx.WritePath(path);

        // Where the plan expected nothing, the rename is the check (no look at the name first: a batch's files are new).
        var local = staged.ExpectedLocal is null && OperatingSystem.IsLinux() ? null : new FileInfo(full);
        string? conflictCopy = null;
        if (local is not null)
        {
            if (IsFolder(local))
            {
                throw FolderHere(path);
            }

            if (await LocalChangedSincePlanAsync(local, staged.ExpectedLocal, staged.RacyBaseHash, ct).ConfigureAwait(false))
            {
                // Never overwrite a local edit the plan did not see: keep it beside the download.
                conflictCopy = KeepAsConflict(path, full);
            }
            else if (local.Exists)
            {
                var seen = FileChangeTime.TryStat(full);
                if (staged.ExpectedChangeTimeNs is { } planned && seen?.CtimeNs is { } ctime && ctime != planned)
                {
                    // Written to since the plan read it, its size and mtime put back (touch -r, cp -p): kept as well.
                    conflictCopy = KeepAsConflict(path, full);
                }
                else
                {
                    // The file found as the plan saw it: the exchange must displace this very one (see ExchangeIntoPlaceAsync).
                    staged.CheckedInode = seen?.Inode;
                }
            }
        }

        // The version's executable bit, before the rename: the file appears with its mode, never without it for a moment.
        // Recorded as read back: where the filesystem cannot hold it, the record matches the file and no pass sends it.
        // Where the folder cannot hold it, nothing is applied and the version's bit is recorded (never compared here).
        // Where the probe could not tell this pass, the bit is applied and read back too (see MayHoldExecutableBit).
        var executable = _ctx.MayHoldExecutableBit ? Local.ExecutableBit.Apply(staged.Temp, staged.Plan.Entry.Executable) : staged.Plan.Entry.Executable;
        if (BeforeRename is { } beforeRename)
        {
            await beforeRename(staged).ConfigureAwait(false);
        }

        // Replace only a file the checks above found as the plan saw it; else the name is expected empty.
        var expectFile = local is not null && conflictCopy is null && local.Exists;
        conflictCopy = expectFile
            ? await ExchangeIntoPlaceAsync(staged, ct).ConfigureAwait(false)
            : MoveIntoPlace(staged, local is not null) ?? conflictCopy;

        var ids = new List<ChunkId>(staged.Chunks.Count);
        foreach (var chunk in staged.Chunks)
        {
            ids.Add(chunk.Id);
        }

        var record = new FileRecord(path, FileKind.File, written.Size, written.MtimeTicks, staged.Plan.Entry.Version, FileVersion.ComputeContentHash(ids)) { Executable = executable };
        return new PlacedDownload(record, conflictCopy);
    }

    /// <summary>
    /// Renames the temp file to a name expected empty; whatever appeared there meanwhile is kept as a conflicted copy
    /// (returned) and the rename tried once more. Where the one-step rename is not available: the check as before
    /// (unless <paramref name="checkedJustNow"/>), then a plain rename.
    /// </summary>
    private string? MoveIntoPlace(StagedDownload staged, bool checkedJustNow)
    {
        string? conflictCopy = null;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            switch (FileRename.MoveNew(staged.Temp, staged.Full))
            {
                case RenameOutcome.Done:
                    staged.Placed = true;
                    return conflictCopy;
                case RenameOutcome.NotSupported:
                    if (!checkedJustNow)
                    {
                        var local = new FileInfo(staged.Full);
                        if (IsFolder(local))
                        {
                            throw FolderHere(staged.Path);
                        }

                        if (LocalChangedSincePlan(local, staged.ExpectedLocal))
                        {
                            conflictCopy = KeepAsConflict(staged.Path, staged.Full);
                        }
                    }

                    FileRename.Replace(staged.Temp, staged.Full);
                    staged.Placed = true;
                    return conflictCopy;
                case RenameOutcome.DestinationExists when conflictCopy is null:
                    // Made (or changed into something) since the plan: the user's, kept beside the download.
                    if (IsFolder(new FileInfo(staged.Full)))
                    {
                        throw FolderHere(staged.Path);
                    }

                    conflictCopy = KeepAsConflict(staged.Path, staged.Full);
                    break;
                default:
                    break;
            }
        }

        // Something appeared at the name again, right after the first was moved aside: left alone, the download not placed.
        throw new DropboxException(ErrorKind.Conflict, $"'{staged.Path}' keeps changing here; the download is left for the next pass and your version kept as '{conflictCopy}'.");
    }

    /// <summary>
    /// Replaces the local file the checks found as the plan saw it. The temp file first goes to a new conflicted-copy name
    /// (checked by <see cref="SyncContext.WritePath"/>: a name the folder cannot hold fails before anything moves), then
    /// is exchanged with the file at the name: the displaced file then sits, visible, at the conflicted-copy name and is
    /// looked at there: exactly what the plan saw, it is deleted; otherwise it stays there, reported as a conflict
    /// (returned) and uploaded like any conflicted copy. A kill or a failure at any point leaves at worst a visible
    /// conflicted copy, never a user's byte under a hidden name. A folder swapped in is put back (see <see cref="PutBack"/>).
    /// Two renames, as many as the exchange and the hidden holding move this replaced.
    /// </summary>
    private async Task<string?> ExchangeIntoPlaceAsync(StagedDownload staged, CancellationToken ct)
    {
        var conflictCopy = _conflictName(staged.Path);
        var aside = _ctx.WritePath(conflictCopy);
        switch (FileRename.MoveNew(staged.Temp, aside))
        {
            case RenameOutcome.NotSupported:
                FileRename.Replace(staged.Temp, staged.Full); // checked just now, as before renameat2
                staged.Placed = true;
                return null;
            case RenameOutcome.DestinationExists:
                // Taken since it was chosen: nothing moved, the download is left for the next pass (its temp file deleted).
                throw new IOException($"Could not replace '{staged.Path}': '{conflictCopy}' appeared while the download was put in place; it is tried again next pass.");
            default:
                break;
        }

        // The download is at the conflicted-copy name now (a kill here leaves a visible copy of the server's version).
        RenameOutcome exchanged;
        try
        {
            exchanged = FileRename.Exchange(aside, staged.Full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Unstage(staged, aside, conflictCopy);
            throw;
        }

        switch (exchanged)
        {
            case RenameOutcome.NotSupported:
                FileRename.Replace(aside, staged.Full); // checked just now, as before renameat2
                staged.Placed = true;
                return null;
            case RenameOutcome.DestinationMissing:
                // Removed meanwhile: the name is expected empty (the download back under its temp name for that move).
                Unstage(staged, aside, conflictCopy);
                return File.Exists(staged.Temp) ? MoveIntoPlace(staged, checkedJustNow: true) : throw new IOException($"Could not place '{staged.Path}': the download was moved away while it was put in place.");
            default:
                break;
        }

        // From here the name holds the download and the conflicted-copy name what was at the name.
        staged.Placed = true;
        if (BeforeDisplacedCheck is { } beforeCheck)
        {
            await beforeCheck(staged).ConfigureAwait(false);
        }

        var displaced = new FileInfo(aside);
        if (IsFolder(displaced))
        {
            PutBack(staged, aside, conflictCopy);
            throw FolderHere(staged.Path);
        }

        bool changed;
        try
        {
            if (!displaced.Exists)
            {
                return null; // removed at once: nothing of the user's to keep
            }

            changed = (staged.CheckedInode is { } checkedInode && FileChangeTime.TryStat(aside)?.Inode is { } inode && inode != checkedInode)
                || await LocalChangedSincePlanAsync(displaced, staged.ExpectedLocal, staged.RacyBaseHash, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            changed = true; // not known unchanged (a read error, a cancelled re-read): kept
        }

        if (!changed)
        {
            try
            {
                File.Delete(aside); // the synced version the plan replaces
                return null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Could not be deleted: it stays, visible, as a conflicted copy (the synced version: a duplicate at worst).
            }
        }

        ReportConflict(staged.Path, conflictCopy);
        return conflictCopy;
    }

    /// <summary>
    /// After a failed exchange: the download, at <paramref name="aside"/> (the conflicted-copy name), back under its temp
    /// name for the caller to delete, if it is still the download there; anything else is left where it is, visible.
    /// </summary>
    private void Unstage(StagedDownload staged, string aside, string conflictCopy)
    {
        try
        {
            if (IsTheDownload(aside, staged) && FileRename.MoveNew(aside, staged.Temp) is RenameOutcome.Done or RenameOutcome.DestinationExists)
            {
                return; // DestinationExists: not possible for a name of 32 random digits; the download stays visible then
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left at the conflicted-copy name: said below.
        }

        if (File.Exists(aside))
        {
            _ctx.Progress.Log($"'{SyncPaths.Display(staged.Path)}': the download could not be put in place; what is at '{conflictCopy}' is left there");
        }
    }

    /// <summary>
    /// Undoes the exchange after a folder was found swapped in: the folder, at <paramref name="aside"/>, back at its name.
    /// What that swaps out is deleted only if it is the download (its inode and stamp); a file saved at the name
    /// meanwhile stays, visible, at the conflicted-copy name, and is reported. Where the name is empty (the download
    /// deleted meanwhile), the folder is moved back, never over anything.
    /// </summary>
    private void PutBack(StagedDownload staged, string aside, string conflictCopy)
    {
        for (var attempt = 0; ; attempt++)
        {
            var outcome = FileRename.Exchange(aside, staged.Full);
            if (outcome == RenameOutcome.Done)
            {
                break;
            }

            // The download removed from the name meanwhile: left at the conflicted-copy name, the folder would look like
            // a file's copy and its files would sync under that name.
            if (outcome == RenameOutcome.DestinationMissing)
            {
                var moved = FileRename.MoveNew(aside, staged.Full);
                if (moved == RenameOutcome.Done)
                {
                    staged.Placed = false;
                    return;
                }

                if (moved == RenameOutcome.DestinationExists && attempt == 0)
                {
                    continue; // something saved at the name right then: exchanged with it, and looked at as below
                }
            }

            throw new IOException($"Could not put '{staged.Full}' back after a failed download: it is at '{aside}'; move it back by hand.");
        }

        staged.Placed = false;
        if (!IsTheDownload(aside, staged))
        {
            if (Path.Exists(aside))
            {
                ReportConflict(staged.Path, conflictCopy);
            }

            return;
        }

        try
        {
            File.Delete(aside); // the download's bytes, swapped out again
        }
        catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
        {
            _ctx.Progress.Log($"'{SyncPaths.Display(staged.Path)}': a copy of the server's version is left at '{conflictCopy}'");
        }
    }

    /// <summary>True when the file at <paramref name="full"/> is the download's own (its inode where known, and its size and mtime).</summary>
    private static bool IsTheDownload(string full, StagedDownload staged)
    {
        if (FileChangeTime.TryStat(full) is { } stat)
        {
            return stat.IsRegularFile && staged.Written is { } w && stat.IsFileAs(w.Size, w.MtimeTicks)
                && (staged.Inode is not { } mine || stat.Inode == mine);
        }

        var info = new FileInfo(full);
        return info.Exists && !IsFolder(info) && staged.Written is { } written && FileStamp.Of(info) == written;
    }

    /// <summary>Moves the user's file at <paramref name="full"/> to a new conflicted-copy name and says so; returns that name.</summary>
    private string KeepAsConflict(string path, string full)
    {
        var conflictCopy = MoveAside(path, full);
        ReportConflict(path, conflictCopy);
        return conflictCopy;
    }

    /// <summary>
    /// Moves the file at <paramref name="full"/> to a new conflicted-copy name, never over anything there (where the
    /// system cannot say so in one step, as <see cref="File.Move(string, string)"/> does); returns that name.
    /// </summary>
    private string MoveAside(string path, string full)
    {
        var conflictCopy = _conflictName(path);
        MoveToNewName(full, _ctx.WritePath(conflictCopy), path);
        return conflictCopy;
    }

    /// <summary>Moves <paramref name="source"/> to <paramref name="destination"/>, never over anything there (in one step where the system can).</summary>
    private static void MoveToNewName(string source, string destination, string path)
    {
        if (FileRename.MoveNewElseMove(source, destination) != RenameOutcome.Done)
        {
            throw new IOException($"Could not move '{path}' aside to '{destination}': something is already at that name.");
        }
    }

    private void ReportConflict(string path, string conflictCopy)
    {
        _summary.AddConflict();
        _ctx.Progress.Log($"conflict: '{path}' changed here during the download; your version is kept as '{conflictCopy}'");
    }

    /// <summary>A folder at the name (a link counts when it leads to one, as Directory.Exists would say).</summary>
    private static bool IsFolder(FileInfo local) =>
        local.Attributes is var attributes && (int)attributes != -1 && (attributes & FileAttributes.Directory) != 0;

    private static DropboxException FolderHere(string path) =>
        new(ErrorKind.Conflict, $"'{path}' is a folder here and a file remotely; rename one of them.");

    /// <summary>
    /// <see cref="LocalChangedSincePlan"/>, and for a file the plan took as unchanged on a racy read
    /// (<paramref name="racyBaseHash"/> not null) also true unless a read made now, with its mtime past the stable age,
    /// finds exactly the synced content: a file still too young to prove counts as changed (its bytes are kept as a
    /// conflicted copy rather than overwritten).
    /// </summary>
    internal Task<bool> LocalChangedSincePlanAsync(string full, LocalEntry? expected, byte[]? racyBaseHash, CancellationToken ct) =>
        LocalChangedSincePlanAsync(new FileInfo(full), expected, racyBaseHash, ct);

    /// <summary>As above, for the local file <paramref name="info"/> describes (as it was when it was made).</summary>
    internal async Task<bool> LocalChangedSincePlanAsync(FileInfo info, LocalEntry? expected, byte[]? racyBaseHash, CancellationToken ct)
    {
        if (LocalChangedSincePlan(info, expected))
        {
            return true;
        }

        if (racyBaseHash is null || expected is null || !info.Exists)
        {
            return false;
        }

        var now = await new FileHasher(_ctx.Chunker, _ctx.Time, _ctx.Options.StableAge).TryHashAsync(info.FullName, ct).ConfigureAwait(false);
        return now is null || now.Racy || FileStamp.Of(now) != FileStamp.Of(expected) || !now.ContentHash.AsSpan().SequenceEqual(racyBaseHash);
    }

    /// <summary>True when the local file is not what the plan saw (created, edited; a vanished file is fine to replace).</summary>
    internal static bool LocalChangedSincePlan(string full, LocalEntry? expected) => LocalChangedSincePlan(new FileInfo(full), expected);

    /// <summary>As above, for the local file <paramref name="info"/> describes.</summary>
    internal static bool LocalChangedSincePlan(FileInfo info, LocalEntry? expected)
    {
        if (!info.Exists)
        {
            return false;
        }

        return expected is null || expected.Kind != FileKind.File || FileStamp.Of(info) != FileStamp.Of(expected);
    }

    /// <summary>After a failure: waits for the chunks still in flight and gives their buffers back.</summary>
    private static async Task ReleaseWindowAsync(Queue<Task<ChunkBuffer>> window)
    {
        while (window.Count > 0)
        {
            try
            {
                using var _ = await window.Dequeue().ConfigureAwait(false);
            }
            catch
            {
                // The first failure is what the caller reports.
            }
        }
    }

    /// <summary>How long a node that failed as unavailable (down, or hanging past a stall) is tried last.</summary>
    private static readonly TimeSpan ShunFor = TimeSpan.FromSeconds(60);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _shunned = new(StringComparer.Ordinal);

    /// <summary>True while the node at <paramref name="grpcUrl"/> recently failed as unavailable: try it last.</summary>
    internal bool IsShunned(string grpcUrl) => _shunned.TryGetValue(grpcUrl, out var until) && until > Environment.TickCount64;

    /// <summary>Notes that the node at <paramref name="grpcUrl"/> failed as unavailable.</summary>
    internal void Shun(string grpcUrl) => _shunned[grpcUrl] = Environment.TickCount64 + (long)ShunFor.TotalMilliseconds;

    /// <summary>The plan's nodes for a chunk in the order to try them: as planned, except recently failed ones last.</summary>
    private IEnumerable<int> NodeOrder(ChunkGet get) =>
        Enumerable.Range(0, Math.Min(get.Nodes.Count, RemoteBounds.MaxNodesPerChunk)).OrderBy(i => IsShunned(get.Nodes[i].GrpcUrl) ? 1 : 0);

    /// <summary>One chunk, verified: copied from a local file holding it, else fetched from each node holding it in turn.</summary>
    internal async Task<ChunkBuffer> ObtainAsync(ChunkGet get, ChunkRef reference, CancellationToken ct)
    {
        var local = await TryReadLocalAsync(reference, ct).ConfigureAwait(false);
        if (local is not null)
        {
            _summary.AddChunksReused(1);
            return local;
        }

        Exception? last = null;
        foreach (var i in NodeOrder(get))
        {
            if (!RemoteBounds.IsNodeUrl(get.Nodes[i].GrpcUrl))
            {
                last = new DropboxException(ErrorKind.DataLoss, $"the server named storage node '{SyncPaths.Display(get.Nodes[i].NodeId)}' at '{SyncPaths.Display(get.Nodes[i].GrpcUrl)}', which is not an http(s) URL");
                continue;
            }

            await _gets.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                var token = i < get.Tokens.Count ? get.Tokens[i] : string.Empty;
                var received = await _ctx.Transfer.GetChunksAsync(get.Nodes[i], [reference.Id], token, ct).ConfigureAwait(false);
                if (received.Count != 1)
                {
                    foreach (var extra in received)
                    {
                        extra.Dispose();
                    }

                    throw new DropboxException(ErrorKind.DataLoss, $"Storage node {get.Nodes[i].NodeId} sent {received.Count} chunks for one request.");
                }

                var storedLength = received[0].Stored.Length;
                var plain = ChunkDecoder.DecodeAndVerify(received[0], reference.Id, reference.Size);
                _summary.AddChunksDownloaded(1);
                _summary.AddBytesDownloaded(storedLength);
                return plain;
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.DataLoss or ErrorKind.Unavailable or ErrorKind.NotFound or ErrorKind.Internal)
            {
                last = e; // try the next node holding it
                if (e.Kind == ErrorKind.Unavailable)
                {
                    Shun(get.Nodes[i].GrpcUrl);
                }
            }
            finally
            {
                _gets.Release();
            }
        }

        throw new DropboxException(ErrorKind.Unavailable, $"No storage node could serve chunk {reference.Id.ToShortString()}: {last?.Message ?? "no node holds it"}", last);
    }

    /// <summary>A chunk read (and re-hashed) from a local file that held it when last synced, or null.</summary>
    internal Task<ChunkBuffer?> TryReadLocalAsync(ChunkRef reference, CancellationToken ct) =>
        TryReadLocalAsync(reference, _ctx.State.FindChunk(reference.Id), ct);

    /// <summary>A chunk read (and re-hashed) from one of <paramref name="places"/> (the db's word for where it was), or null.</summary>
    internal async Task<ChunkBuffer?> TryReadLocalAsync(ChunkRef reference, IEnumerable<LocalChunkLocation> places, CancellationToken ct)
    {
        foreach (var place in places)
        {
            if (place.Length != reference.Size)
            {
                continue;
            }

            var buffer = ChunkBuffer.Rent(place.Length);
            try
            {
                await using var stream = new FileStream(_ctx.FullPath(place.Path), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.Asynchronous);
                stream.Position = place.Offset;
                await stream.ReadExactlyAsync(buffer.Memory, ct).ConfigureAwait(false);
                if (ChunkId.Compute(buffer.Span) == reference.Id)
                {
                    var found = buffer;
                    buffer = null;
                    return found;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone or changed: fetch it instead.
            }
            finally
            {
                buffer?.Dispose();
            }
        }

        return null;
    }
}
