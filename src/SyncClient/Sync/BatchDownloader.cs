using System.Runtime.ExceptionServices;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Downloads many files with one durability barrier per batch instead of one per file: every file of a batch is
/// fetched into its temp file (several at once), then the barrier makes all of their bytes durable, then each is
/// checked and renamed into place, then the folders the renames touched are made durable (once each), then the whole
/// batch is recorded in the local db in one transaction. So a file never appears under its name before its bytes are
/// durable, and the db never records a file whose rename is not durable; a crash at any point leaves, for each file,
/// the old state or the whole new file (and at worst a stray temp file, which is ignored and cleaned up).
/// </summary>
internal sealed partial class BatchDownloader
{
    /// <summary>Most files per barrier.</summary>
    public const int MaxFiles = 512;

    /// <summary>Most bytes per barrier (a larger file is a batch of its own).</summary>
    public const long MaxBytes = 64L * 1024 * 1024;

    /// <summary>Files larger than this download beside the smaller ones rather than before or after them.</summary>
    public const long LargeFileSize = 16L * 1024 * 1024;

    /// <summary>Files of more chunks than this download on their own (a window of chunks in flight), not grouped.</summary>
    public const int MaxChunksPerGroupedFile = 16;

    /// <summary>Most chunks asked for in one grouped request (the server's tokens cover 16).</summary>
    public const int MaxChunksPerRequest = 64;

    /// <summary>
    /// Batches of small files in flight at once, as a pipeline: one batch at a time plans and fetches (one gate around
    /// that step, so the network, memory and request bounds are those of one batch) while the other waits for its
    /// barrier, renames, folder syncs and db write (none of which uses the network). Profiled (256 MiB and 2,000 files,
    /// composite build): the small files finished ~5.5 s after the large one, each batch's steps one after another.
    /// Large files keep one batch at a time (their memory is a window of chunks per file). Each batch still runs its own
    /// barrier before any of its files is renamed into place.
    /// </summary>
    public const int SmallBatchesInFlight = 2;

    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;
    private readonly FileDownloader _downloader;
    private readonly int _parallelism;

    public BatchDownloader(SyncContext ctx, SyncSummary summary, FileDownloader downloader, int parallelism)
    {
        _ctx = ctx;
        _summary = summary;
        _downloader = downloader;
        _parallelism = Math.Max(1, parallelism);
    }

    /// <summary>
    /// Downloads <paramref name="files"/> (relative path and expected size, nothing at the path here as far as the pass
    /// knows). A file that fails is reported in the summary and left out; the others go on. Returns the conflicted copies
    /// made of local files that appeared at a path meanwhile (the caller uploads them).
    /// </summary>
    public async Task<List<string>> DownloadAsync(IReadOnlyList<(string Path, long Size)> files, CancellationToken ct)
    {
        // Large files and small ones side by side: a large file is bound by bytes (hashing, writing), small ones by
        // round trips, so each fills the other's waits.
        var copies = new List<string>();
        var large = files.Where(f => f.Size > LargeFileSize).ToList();
        var small = files.Where(f => f.Size <= LargeFileSize).ToList();

        // One batch of small files fetches at a time; one check-and-rename at a time across every batch of both streams
        // (on a case-insensitive file system two remote names can be one local file: the second must see the first).
        using var fetchGate = new SemaphoreSlim(1, 1);
        using var placeLock = new SemaphoreSlim(1, 1);
        var both = Task.WhenAll(
            DownloadInBatchesAsync(large, 1, null, placeLock, copies, ct),
            DownloadInBatchesAsync(small, SmallBatchesInFlight, fetchGate, placeLock, copies, ct));
        try
        {
            await both.ConfigureAwait(false);
        }
        catch (Exception) when (both.Exception?.InnerExceptions.FirstOrDefault(e => e is not OperationCanceledException) is { } real)
        {
            // One stream's real error is not hidden behind the other's cancellation.
            ExceptionDispatchInfo.Throw(real);
        }

        return copies;
    }

    /// <summary>Waits for every task, ignoring their errors (the caller already has the one it reports).</summary>
    private static async Task WhenAllQuietlyAsync(IEnumerable<Task> tasks)
    {
        foreach (var task in tasks)
        {
            try
            {
                await task.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Ignored on purpose: the first error is the one rethrown; this one is only waited for.
            }
        }
    }

    /// <summary>A synchronous barrier step on a thread of its own, not a thread-pool thread the fetching batch needs.</summary>
    private static Task OffPoolAsync(Action step) =>
        Task.Factory.StartNew(step, CancellationToken.None, TaskCreationOptions.LongRunning | TaskCreationOptions.DenyChildAttach, TaskScheduler.Default);

    /// <summary>As <see cref="OffPoolAsync(Action)"/>, with a result.</summary>
    private static Task<T> OffPoolAsync<T>(Func<T> step) =>
        Task.Factory.StartNew(step, CancellationToken.None, TaskCreationOptions.LongRunning | TaskCreationOptions.DenyChildAttach, TaskScheduler.Default);

    /// <summary>
    /// The files in batches (at most <see cref="MaxFiles"/> files and <see cref="MaxBytes"/> bytes each, a larger file
    /// alone), up to <paramref name="inFlight"/> batches at once; returns when every batch has ended.
    /// </summary>
    private async Task DownloadInBatchesAsync(List<(string Path, long Size)> files, int inFlight, SemaphoreSlim? fetchGate, SemaphoreSlim placeLock, List<string> copies, CancellationToken ct)
    {
        var running = new List<Task>(inFlight);
        var batch = new List<string>();
        long bytes = 0;
        try
        {
            foreach (var (path, size) in files)
            {
                if (batch.Count > 0 && (batch.Count >= MaxFiles || bytes + size > MaxBytes))
                {
                    await StartAsync(batch).ConfigureAwait(false);
                    batch = [];
                    bytes = 0;
                }

                batch.Add(path);
                bytes += Math.Max(0, size);
            }

            if (batch.Count > 0)
            {
                await StartAsync(batch).ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            // Every batch started ends (its temp files closed and removed) before this returns, even on a failure; the
            // others' errors (a cancellation, say) do not take the place of the one that stopped the loop.
            await WhenAllQuietlyAsync(running).ConfigureAwait(false);
            throw;
        }

        await Task.WhenAll(running).ConfigureAwait(false);

        async Task StartAsync(List<string> paths)
        {
            if (running.Count >= inFlight)
            {
                var done = await Task.WhenAny(running).ConfigureAwait(false);
                running.Remove(done);
                await done.ConfigureAwait(false);
            }

            running.Add(DownloadBatchAsync(paths, fetchGate, placeLock, copies, ct));
        }
    }

    private async Task DownloadBatchAsync(List<string> paths, SemaphoreSlim? fetchGate, SemaphoreSlim placeLock, List<string> copies, CancellationToken ct)
    {
        var staged = new StagedDownload?[paths.Count];
        if (fetchGate is not null)
        {
            await fetchGate.WaitAsync(ct).ConfigureAwait(false);
        }

        var gated = fetchGate is not null;
        using var mark = _ctx.Barrier.Mark(_ctx.Folder); // before the first temp file is opened

        // The batch's folders, each opened once without following a link; its temp files are made and renamed in them.
        using var folders = OpenFolders();
        try
        {
            try
            {
                await StageAsync(paths, staged, folders, ct).ConfigureAwait(false);
            }
            finally
            {
                // The next batch fetches while this one is at its barrier, renames and db write.
                if (gated)
                {
                    fetchGate!.Release();
                    gated = false;
                }
            }

            var ready = staged.Where(s => s is not null).Select(s => s!).ToList();
            if (ready.Count == 0)
            {
                return;
            }

            try
            {
                // The barrier: every byte of the batch durable before any file of it is renamed into place.
                var handles = ready.Select(s => s.Handle!).ToList();
                await OffPoolAsync(() => _ctx.Barrier.FlushFiles(_ctx.Folder, handles, mark)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                foreach (var s in ready)
                {
                    Fail(s.Path, e);
                }

                return;
            }

            var placed = new List<(StagedDownload Staged, PlacedDownload Placed)>(ready.Count);
            foreach (var s in ready)
            {
                // A file made in an open folder stays open through its rename: its executable bit is set on the handle.
                if (s.Folder is null)
                {
                    s.Close();
                }

                await placeLock.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    placed.Add((s, await _downloader.PlaceAsync(s, ct).ConfigureAwait(false)));
                }
                catch (Exception e) when (e is DropboxException or IOException or UnauthorizedAccessException)
                {
                    Fail(s.Path, e);
                }
                finally
                {
                    placeLock.Release();
                    s.Close();
                }
            }

            if (placed.Count == 0)
            {
                return;
            }

            // Each folder once, for all the renames into it (only those still at their paths are recorded); then the db,
            // in one transaction.
            placed = await DurableAsync(placed, folders).ConfigureAwait(false);
            if (placed.Count == 0)
            {
                return;
            }

            _ctx.Db.RecordFiles(placed.Select(p => (p.Placed.Record, (IReadOnlyList<Dropbox.Shared.Chunks.ChunkRef>?)p.Staged.Chunks, (IReadOnlyList<UInt128>?)p.Staged.FastHashes)).ToList());
            foreach (var (s, p) in placed)
            {
                _summary.AddFileDownloaded();
                _ctx.Progress.FileDone();
                _ctx.Progress.Log($"downloaded '{s.Path}'");
                if (p.ConflictCopy is { } copy)
                {
                    lock (copies)
                    {
                        copies.Add(copy);
                    }
                }
            }
        }
        finally
        {
            foreach (var s in staged)
            {
                s?.Dispose();
            }
        }
    }

    /// <summary>
    /// Fetches every file of the batch into its temp file (left open, not durable): the plans in one call, the chunks of
    /// small files grouped by node and token into requests of many chunks, each chunk verified and written at its
    /// offset(s). A file with a plan of many pages, or a batch whose plans cannot be had in one call (an older server),
    /// goes file by file. A file that fails is reported and its slot left null.
    /// </summary>
    private async Task StageAsync(List<string> paths, StagedDownload?[] staged, FolderHandles? folders, CancellationToken ct)
    {
        var plans = new GetDownloadPlanResponse?[paths.Count];
        var tablesOf = new GetDownloadPlanResponse?[paths.Count];
        var refused = new DropboxException?[paths.Count];
        await PlanRangeAsync(paths, 0, paths.Count, plans, tablesOf, refused, ct).ConfigureAwait(false);

        var alone = new List<(int Index, GetDownloadPlanResponse? Plan)>();
        var wanted = new Dictionary<ChunkId, WantedChunk>();
        var madeDirectories = new Dictionary<string, IReadOnlyList<string>?>(StringComparer.Ordinal);
        var failed = new Exception?[paths.Count];
        for (var i = 0; i < paths.Count; i++)
        {
            if (refused[i] is { } refusal)
            {
                Fail(paths[i], refusal); // the server's word on this one file (a damaged version): not asked again
                continue;
            }

            if (plans[i] is not { } plan)
            {
                alone.Add((i, null));
                continue;
            }

            try
            {
                Plan(i, paths[i], plan, tablesOf[i]!, staged, wanted, alone, madeDirectories, folders);
            }
            catch (Exception e) when (e is DropboxException or IOException or UnauthorizedAccessException)
            {
                staged[i]?.Dispose();
                staged[i] = null;
                Fail(paths[i], e);
            }
        }

        await FetchAsync(wanted, staged, failed, ct).ConfigureAwait(false);
        for (var i = 0; i < paths.Count; i++)
        {
            if (staged[i] is not { } s)
            {
                continue;
            }

            try
            {
                if (failed[i] is { } e)
                {
                    throw e;
                }

                _downloader.SetTime(s);
            }
            catch (Exception e) when (e is DropboxException or IOException or UnauthorizedAccessException)
            {
                s.Dispose();
                staged[i] = null;
                Fail(paths[i], e);
            }
        }

        await Parallel.ForEachAsync(alone, new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = ct }, async (file, token) =>
        {
            try
            {
                staged[file.Index] = await _downloader.StageAsync(paths[file.Index], null, file.Plan, null, token).ConfigureAwait(false);
                if (staged[file.Index] is null)
                {
                    _ctx.Progress.FileDone(); // gone remotely meanwhile: nothing to do
                }
            }
            catch (Exception e) when (e is DropboxException or IOException or UnauthorizedAccessException)
            {
                Fail(paths[file.Index], e);
            }
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// The plans of files [<paramref name="from"/>, +<paramref name="count"/>) in one call, each with the answer's
    /// shared tables. The server refuses a whole call for one damaged file (DataLoss): then each half is asked on its
    /// own, down to that file, whose refusal is kept (so one damaged file costs about 2·log2(batch) calls, not a call
    /// per file, on every pass). Any other refusal, or an answer of the wrong length (an older server), leaves the
    /// range's plans null: those files go one by one.
    /// </summary>
    private async Task PlanRangeAsync(List<string> paths, int from, int count, GetDownloadPlanResponse?[] plans, GetDownloadPlanResponse?[] tablesOf, DropboxException?[] refused, CancellationToken ct)
    {
        GetDownloadPlansResponse answer;
        try
        {
            var request = new GetDownloadPlansRequest();
            for (var i = from; i < from + count; i++)
            {
                request.Files.Add(DownloadPlans.FirstPage(paths[i]));
            }

            answer = await _ctx.Metadata.GetDownloadPlansAsync(request, ct).ConfigureAwait(false);
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.DataLoss)
        {
            if (count == 1)
            {
                refused[from] = e;
                return;
            }

            var half = count / 2;
            await PlanRangeAsync(paths, from, half, plans, tablesOf, refused, ct).ConfigureAwait(false);
            await PlanRangeAsync(paths, from + half, count - half, plans, tablesOf, refused, ct).ConfigureAwait(false);
            return;
        }
        catch (DropboxException)
        {
            return; // ask file by file
        }

        if (answer.Plans.Count != count)
        {
            return; // not an answer to this question: ask file by file
        }

        var tables = new GetDownloadPlanResponse();
        tables.Nodes.AddRange(answer.Nodes);
        tables.Tokens.AddRange(answer.Tokens);
        for (var i = 0; i < count; i++)
        {
            plans[from + i] = answer.Plans[i];
            tablesOf[from + i] = tables;
        }
    }

    /// <summary>Checks file <paramref name="i"/>'s plan and either notes its chunks as wanted (its temp file created) or sets it aside to go alone.</summary>
    private void Plan(int i, string path, GetDownloadPlanResponse plan, GetDownloadPlanResponse tables, StagedDownload?[] staged, Dictionary<ChunkId, WantedChunk> wanted, List<(int, GetDownloadPlanResponse?)> alone, Dictionary<string, IReadOnlyList<string>?> madeDirectories, FolderHandles? folders)
    {
        if (plan.Entry is null || plan.Entry.Deleted)
        {
            _ctx.Progress.FileDone(); // gone remotely meanwhile: nothing to do
            return;
        }

        if (!string.Equals(plan.Entry.Path, path, StringComparison.Ordinal))
        {
            throw RemoteBounds.BadPlan(path, $"it describes another path ('{SyncPaths.Display(plan.Entry.Path)}')");
        }

        var own = plan.Nodes.Count > 0 || plan.Tokens.Count > 0;
        if (plan.HasMore || plan.Chunks.Count > MaxChunksPerGroupedFile)
        {
            if (!own)
            {
                plan.Nodes.AddRange(tables.Nodes);
                plan.Tokens.AddRange(tables.Tokens);
            }

            alone.Add((i, plan));
            return;
        }

        var size = plan.Entry.Size;
        var s = _downloader.Create(path, plan, null, null, madeDirectories, folders);
        staged[i] = s;
        ulong received = 0;
        long offset = 0;
        foreach (var compact in plan.Chunks)
        {
            var get = DownloadPlans.Expand(own ? plan : tables, compact);
            var chunk = RemoteBounds.CheckChunk(path, get);
            received += (ulong)chunk.Size;
            if (received > size)
            {
                throw RemoteBounds.BadPlan(path, $"its chunks add up to more than the {size} bytes the file is said to be");
            }

            s.Chunks.Add(chunk);
            if (!wanted.TryGetValue(chunk.Id, out var w))
            {
                wanted[chunk.Id] = w = new WantedChunk(get, chunk);
            }
            else if (w.Ref.Size != chunk.Size)
            {
                throw RemoteBounds.BadPlan(path, $"chunk {chunk.Id.ToShortString()} is listed with two different sizes");
            }

            w.Destinations.Add((i, offset));
            offset += chunk.Size;
        }

        if (received != size)
        {
            throw RemoteBounds.BadPlan(path, $"its chunks add up to {received} bytes but the file is said to be {size} bytes");
        }
    }

    /// <summary>
    /// Every wanted chunk into every temp file that needs it: local copies first, then one request per node and token
    /// (the server's token covers up to 16 chunks, of any files), each chunk verified; a chunk a request did not deliver
    /// is fetched on its own from each node holding it in turn. A file a chunk could not be had for is marked failed.
    /// </summary>
    private async Task FetchAsync(Dictionary<ChunkId, WantedChunk> wanted, StagedDownload?[] staged, Exception?[] failed, CancellationToken ct)
    {
        var groups = new Dictionary<(string Url, string Token), List<WantedChunk>>();
        var locals = wanted.Count == 0 ? [] : _ctx.State.FindChunks(wanted.Keys);
        foreach (var w in wanted.Values)
        {
            if (locals.TryGetValue(w.Ref.Id, out var places) && await _downloader.Chunks.TryReadLocalAsync(w.Ref, places, ct).ConfigureAwait(false) is { } local)
            {
                using (local)
                {
                    _summary.AddChunksReused(1);
                    Write(w, local, staged, failed);
                }

                continue;
            }

            // A first node that just failed as unavailable gets no group request: each chunk goes alone, other nodes first.
            var key = w.Get.Nodes.Count > 0 && w.Get.Tokens.Count > 0 && !_downloader.Chunks.IsShunned(w.Get.Nodes[0].GrpcUrl) ? (w.Get.Nodes[0].GrpcUrl, w.Get.Tokens[0]) : (string.Empty, string.Empty);
            if (!groups.TryGetValue(key, out var group))
            {
                groups[key] = group = [];
            }

            group.Add(w);
        }

        await Parallel.ForEachAsync(groups, new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = ct }, async (pair, token) =>
        {
            var ((url, getToken), group) = pair;
            var left = new List<WantedChunk>();
            IReadOnlyList<IncomingChunk>? received = null;
            if (url.Length > 0 && RemoteBounds.IsNodeUrl(url) && group.Count <= MaxChunksPerRequest)
            {
                try
                {
                    received = await _ctx.Transfer.GetChunksAsync(url, group.Select(w => w.Ref.Id).ToList(), getToken, token).ConfigureAwait(false);
                }
                catch (DropboxException e)
                {
                    // Whatever the node said (busy, refused, unreachable...), it is this group's failure only: each
                    // chunk alone below, from every node holding it; a chunk none delivers fails just its files.
                    received = null;
                    if (e.Kind == ErrorKind.Unavailable)
                    {
                        _downloader.Chunks.Shun(url);
                    }
                }
            }

            if (received is not null && received.Count == group.Count)
            {
                for (var k = 0; k < group.Count; k++)
                {
                    var storedLength = received[k].Stored.Length;
                    ChunkBuffer plain;
                    try
                    {
                        plain = ChunkDecoder.DecodeAndVerify(received[k], group[k].Ref.Id, group[k].Ref.Size);
                    }
                    catch (DropboxException)
                    {
                        left.Add(group[k]);
                        continue;
                    }

                    using (plain)
                    {
                        _summary.AddChunksDownloaded(1);
                        _summary.AddBytesDownloaded(storedLength);
                        Write(group[k], plain, staged, failed);
                    }
                }
            }
            else
            {
                foreach (var extra in received ?? [])
                {
                    extra.Dispose();
                }

                left.AddRange(group);
            }

            foreach (var w in left)
            {
                try
                {
                    using var plain = await _downloader.Chunks.ObtainAsync(w.Get, w.Ref, token).ConfigureAwait(false);
                    Write(w, plain, staged, failed);
                }
                catch (DropboxException e)
                {
                    foreach (var (file, _) in w.Destinations)
                    {
                        failed[file] ??= e;
                    }
                }
            }
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// The sync folder opened for a batch's folders (<see cref="FolderHandles"/>), or null where that is not available
    /// (the batch's paths are then checked for links one by one, as a single download's are).
    /// </summary>
    private FolderHandles? OpenFolders()
    {
        try
        {
            return FolderHandles.TryOpen(_ctx.Folder);
        }
        catch (IOException)
        {
            return null; // each file then reports its own failure to reach the folder
        }
    }

    /// <summary>A verified chunk into each temp file that needs it, at its offset there.</summary>
    private void Write(WantedChunk w, ChunkBuffer plain, StagedDownload?[] staged, Exception?[] failed)
    {
        foreach (var (file, offset) in w.Destinations)
        {
            if (staged[file]?.Handle is not { } handle || failed[file] is not null)
            {
                continue;
            }

            try
            {
                RandomAccess.Write(handle, plain.Span, offset);
                _ctx.Progress.AddBytes(plain.Length);
            }
            catch (IOException e)
            {
                failed[file] = e;
            }
        }
    }

    /// <summary>A chunk some files of a batch need, and where (file index, offset).</summary>
    private sealed class WantedChunk(ChunkGet get, ChunkRef reference)
    {
        public ChunkGet Get { get; } = get;

        public ChunkRef Ref { get; } = reference;

        public List<(int File, long Offset)> Destinations { get; } = [];
    }

    private void Fail(string path, Exception e)
    {
        _summary.AddError($"{SyncActionKind.Download} {path}: {e.Message}");
        _ctx.Progress.Log($"error: {SyncActionKind.Download} {path}: {e.Message}");
        _ctx.Progress.FileDone();
    }
}
