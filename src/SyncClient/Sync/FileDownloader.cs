using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
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
/// <remarks>
/// This class stages the bytes; the checks and the rename into place (and the replacement of a synced file by exchange)
/// are <see cref="DownloadPlacer"/>'s; where each chunk's bytes come from is <see cref="ChunkFetcher"/>'s.
/// </remarks>
internal sealed class FileDownloader
{
    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;

    public FileDownloader(SyncContext ctx, SyncSummary summary, SemaphoreSlim gets, Func<string, string> conflictName)
    {
        _ctx = ctx;
        _summary = summary;
        Chunks = new ChunkFetcher(ctx, summary, gets);
        Placer = new DownloadPlacer(ctx, summary, conflictName);
    }

    /// <summary>Where this downloader's chunks come from (also the batch downloader's, which shares its shunned nodes).</summary>
    internal ChunkFetcher Chunks { get; }

    /// <summary>Where this downloader's staged files are checked and renamed into place.</summary>
    internal DownloadPlacer Placer { get; }

    /// <summary>Test seam: see <see cref="DownloadPlacer.BeforeRename"/>.</summary>
    internal Func<StagedDownload, Task>? BeforeRename
    {
        get => Placer.BeforeRename;
        set => Placer.BeforeRename = value;
    }

    /// <summary>Test seam: see <see cref="DownloadPlacer.BeforeMoveAside"/>.</summary>
    internal Action<string>? BeforeMoveAside
    {
        get => Placer.BeforeMoveAside;
        set => Placer.BeforeMoveAside = value;
    }

    /// <summary>Tests: see <see cref="DownloadPlacer.BeforeDisplacedCheck"/>.</summary>
    internal Func<StagedDownload, Task>? BeforeDisplacedCheck
    {
        get => Placer.BeforeDisplacedCheck;
        set => Placer.BeforeDisplacedCheck = value;
    }

    /// <inheritdoc cref="DownloadPlacer.PlaceAsync"/>
    public Task<PlacedDownload> PlaceAsync(StagedDownload staged, CancellationToken ct) => Placer.PlaceAsync(staged, ct);

    /// <param name="path">Relative path.</param>
    /// <param name="expectedLocal">The local file as the plan saw it (null: absent).</param>
    public Task<DownloadResult> DownloadAsync(string path, LocalEntry? expectedLocal, CancellationToken ct) =>
        DownloadAsync(path, expectedLocal, null, null, null, ct);

    /// <param name="path">Relative path.</param>
    /// <param name="expectedLocal">The local file as the plan saw it (null: absent).</param>
    /// <param name="racyBaseHash">
    /// When the plan took the local file as unchanged on content read while its mtime was younger than the stable
    /// age (<see cref="FileFingerprint.Racy"/>): the synced content hash it matched. Size and mtime cannot vouch for
    /// such a file, so it is read again before it is replaced (see <see cref="DownloadPlacer.LocalChangedSincePlanAsync(FileInfo, LocalEntry, byte[], CancellationToken)"/>).
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
        _ctx.Db.RecordFile(placed.Record, staged.Chunks, staged.FastHashes);
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
            var fastHash = _ctx.FastHashFor((long)Math.Min(size, long.MaxValue));
            staged.FastHashes = fastHash is null ? null : new List<UInt128>(chunks.Capacity);
            ulong received = 0;
            long written = 0;

            // A window of chunks in flight, written strictly in order at their offsets; each chunk's pooled buffer goes
            // back to the pool once written, so memory is the window, not the file.
            // Later pages of the plan are asked for as the window reaches them.
            var window = new Queue<Task<(ChunkBuffer Plain, UInt128 Tag)>>();
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
                        window.Enqueue(ObtainTaggedAsync(gets.Current, chunk, fastHash, ct));
                        more = await gets.MoveNextAsync().ConfigureAwait(false);
                    }

                    var (plain, tag) = await window.Dequeue().ConfigureAwait(false);
                    using var _ = plain;
                    staged.FastHashes?.Add(tag);
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
    /// Not used with <paramref name="folders"/>, which keeps its own.
    /// </param>
    /// <param name="folders">
    /// The batch's open folders (null: none): the temp file is then made in its folder as opened there, no path on the
    /// way looked at for links (the open follows none), and renamed into place there (<see cref="PlaceAsync"/>).
    /// </param>
    internal StagedDownload Create(string path, GetDownloadPlanResponse plan, LocalEntry? expectedLocal, byte[]? racyBaseHash, Dictionary<string, IReadOnlyList<string>?>? madeDirectories = null, FolderHandles? folders = null)
    {
        var full = folders is null ? _ctx.WritePath(path) : SyncPaths.Resolve(_ctx.Folder, path, _ctx.State.StateDirectory, checkLinks: false);
        _ = RemoteBounds.CheckPlan(path, plan);
        var directory = Path.GetDirectoryName(full)!;
        FolderHandle? folder = null;
        IReadOnlyList<string>? newFolderParents;
        if (folders is not null)
        {
            var slash = path.LastIndexOf('/');
            folder = folders.Get(slash < 0 ? string.Empty : path[..slash], []);
            if (folder is null)
            {
                // A link (or a file) on the way: the path check says which, in the words every other refusal uses.
                _ = _ctx.WritePath(path);
                throw new IOException($"Could not create '{SyncPaths.Display(path)}': a folder on the way is not a folder here.");
            }

            // The folders it made folders in are the batch's to sync (FolderHandles.MadeIn), whichever file made them.
            newFolderParents = null;
        }
        else if (madeDirectories is null || !madeDirectories.TryGetValue(directory, out newFolderParents))
        {
            newFolderParents = MakeFolders(directory);
            madeDirectories?.Add(directory, newFolderParents);
        }

        var tempName = TempName.New();
        var staged = new StagedDownload(path, full, Path.Combine(directory, tempName), plan, expectedLocal, racyBaseHash) { NewFolderParents = newFolderParents, Folder = folder };
        try
        {
            // No FileShare.None lock by the open folder: nobody else knows the random name (it cost an flock on and off a file).
            staged.Handle = folder is not null ? folder.CreateNew(tempName)
                : File.OpenHandle(staged.Temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.Asynchronous);
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
    /// One chunk, verified (<see cref="ChunkFetcher.ObtainAsync"/>), with its fast hash when the file keeps a list (else 0),
    /// taken from the verified bytes here, in parallel with the other chunks in flight, not in the in-order write loop:
    /// an AES-GCM pass over every byte of a large file, ~0.2-0.3 s of CPU per GiB that loop no longer waits for.
    /// </summary>
    private async Task<(ChunkBuffer Plain, UInt128 Tag)> ObtainTaggedAsync(ChunkGet get, ChunkRef chunk, ChunkFastHash? fastHash, CancellationToken ct)
    {
        var plain = await Chunks.ObtainAsync(get, chunk, ct).ConfigureAwait(false);
        try
        {
            return (plain, fastHash?.Compute(plain.Span) ?? default);
        }
        catch
        {
            plain.Dispose();
            throw;
        }
    }

    /// <summary>After a failure: waits for the chunks still in flight and gives their buffers back.</summary>
    private static async Task ReleaseWindowAsync(Queue<Task<(ChunkBuffer Plain, UInt128 Tag)>> window)
    {
        while (window.Count > 0)
        {
            try
            {
                using var _ = (await window.Dequeue().ConfigureAwait(false)).Plain;
            }
            catch
            {
                // The first failure is what the caller reports.
            }
        }
    }
}
