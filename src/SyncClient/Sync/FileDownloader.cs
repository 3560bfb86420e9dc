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

    /// <summary>Tests: runs when a file displaced by the exchange has been moved to its holding name, before it is looked at.</summary>
    internal Func<StagedDownload, Task>? BeforeDisplacedCheck { get; set; }

    /// <param name="path">Relative path.</param>
    /// <param name="expectedLocal">The local file as the plan saw it (null: absent).</param>
    public Task<DownloadResult> DownloadAsync(string path, LocalEntry? expectedLocal, CancellationToken ct) =>
        DownloadAsync(path, expectedLocal, null, null, ct);

    /// <param name="path">Relative path.</param>
    /// <param name="expectedLocal">The local file as the plan saw it (null: absent).</param>
    /// <param name="racyBaseHash">
    /// When the plan took the local file as unchanged on content read while its mtime was younger than the stable
    /// age (<see cref="FileFingerprint.Racy"/>): the synced content hash it matched. Size and mtime cannot vouch for
    /// such a file, so it is read again before it is replaced (see <see cref="LocalChangedSincePlanAsync"/>).
    /// </param>
    /// <param name="ct">Cancellation.</param>
    public Task<DownloadResult> DownloadAsync(string path, LocalEntry? expectedLocal, byte[]? racyBaseHash, CancellationToken ct) =>
        DownloadAsync(path, expectedLocal, null, racyBaseHash, ct);

    /// <param name="path">Relative path.</param>
    /// <param name="expectedLocal">The local file as the plan saw it (null: absent).</param>
    /// <param name="checkedPlan">A plan already obtained with <see cref="PlanAsync"/> (null: ask for it now).</param>
    /// <param name="ct">Cancellation.</param>
    public Task<DownloadResult> DownloadAsync(string path, LocalEntry? expectedLocal, GetDownloadPlanResponse? checkedPlan, CancellationToken ct) =>
        DownloadAsync(path, expectedLocal, checkedPlan, null, ct);

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
    private async Task<DownloadResult> DownloadAsync(string path, LocalEntry? expectedLocal, GetDownloadPlanResponse? checkedPlan, byte[]? racyBaseHash, CancellationToken ct)
    {
        using var staged = await StageAsync(path, expectedLocal, checkedPlan, racyBaseHash, ct).ConfigureAwait(false);
        if (staged is null)
        {
            return DownloadResult.Gone;
        }

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
    /// Exchanges the temp file with the local file the checks found as the plan saw it, then looks at the file displaced
    /// (now under the temp name): unchanged, it is deleted; changed since the checks, it is kept as a conflicted copy
    /// (returned); a folder, the exchange is undone and refused. Never deletes a byte the checks did not see.
    /// </summary>
    private async Task<string?> ExchangeIntoPlaceAsync(StagedDownload staged, CancellationToken ct)
    {
        switch (FileRename.Exchange(staged.Temp, staged.Full))
        {
            case RenameOutcome.NotSupported:
                FileRename.Replace(staged.Temp, staged.Full); // checked just now, as before renameat2
                staged.Placed = true;
                return null;
            case RenameOutcome.DestinationMissing:
                return MoveIntoPlace(staged, checkedJustNow: true); // removed meanwhile: the name is expected empty
            default:
                break;
        }

        // From here the temp name holds what was at the name: never deleted by the caller's clean-up.
        staged.Placed = true;
        var displaced = new FileInfo(staged.Temp);
        if (IsFolder(displaced))
        {
            Unexchange(staged, staged.Temp);
            throw FolderHere(staged.Path);
        }

        // Out of the temp name before it is looked at (a racy file is read whole): a kill during the check must not leave
        // it under a name the next pass's sweep deletes. The holding name is hidden like a temp name but never swept: the
        // next pass keeps a leftover one as a conflicted copy beside the name it carries (SyncEngine.KeepDisplacedFiles).
        var holding = Path.Combine(Path.GetDirectoryName(staged.Temp)!, TempName.NewDisplaced(Path.GetFileName(staged.Full)));
        try
        {
            MoveToNewName(staged.Temp, holding, staged.Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Could not be moved: put it back at its name, the download not placed (its temp file deleted).
            Unexchange(staged, staged.Temp);
            throw;
        }

        if (BeforeDisplacedCheck is { } beforeCheck)
        {
            await beforeCheck(staged).ConfigureAwait(false);
        }

        var aside = new FileInfo(holding);
        bool changed;
        try
        {
            changed = await LocalChangedSincePlanAsync(aside, staged.ExpectedLocal, staged.RacyBaseHash, ct).ConfigureAwait(false) || !aside.Exists;
        }
        catch (OperationCanceledException)
        {
            changed = true; // not known unchanged: kept
        }

        if (!changed)
        {
            try
            {
                File.Delete(holding); // the synced version the plan replaces
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Left under its hidden holding name: the synced version, kept in the server's history anyway.
            }

            return null;
        }

        try
        {
            return KeepAsConflict(staged.Path, holding);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Could not be kept as a conflicted copy: the user's file back at its name, the download not placed.
            Unexchange(staged, holding);
            try
            {
                File.Delete(holding); // the download's bytes, swapped out again
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                // Hidden and never synced: a download's copy, nothing of the user's.
            }

            throw;
        }
    }

    /// <summary>
    /// Undoes <see cref="ExchangeIntoPlaceAsync"/>'s exchange: the displaced file, now at <paramref name="displacedAt"/>,
    /// back at its name, and the download at <paramref name="displacedAt"/> for the caller to delete.
    /// </summary>
    private static void Unexchange(StagedDownload staged, string displacedAt)
    {
        if (FileRename.Exchange(displacedAt, staged.Full) != RenameOutcome.Done)
        {
            throw new IOException($"Could not put '{staged.Full}' back after a failed download: it is at '{displacedAt}'; move it back by hand.");
        }

        staged.Placed = false;
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
        switch (FileRename.MoveNew(source, destination))
        {
            case RenameOutcome.Done:
                break;
            case RenameOutcome.NotSupported:
                File.Move(source, destination);
                break;
            default:
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
