using System.Security.Cryptography;
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
        _ctx.Barrier.FlushDirectories([staged.Directory]);
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
    /// Folders this caller already created (or found) for earlier temp files, and where this one's is added: a batch of
    /// files in a few folders then makes each folder once, not once per file (a mkdir and a stat each). Should such a
    /// folder be removed meanwhile, the temp file's create fails and that file is reported; nothing is written elsewhere.
    /// </param>
    internal StagedDownload Create(string path, GetDownloadPlanResponse plan, LocalEntry? expectedLocal, byte[]? racyBaseHash, HashSet<string>? madeDirectories = null)
    {
        var full = _ctx.WritePath(path);
        _ = RemoteBounds.CheckPlan(path, plan);
        var directory = Path.GetDirectoryName(full)!;
        if (madeDirectories is null || !madeDirectories.Contains(directory))
        {
            Directory.CreateDirectory(directory);
            madeDirectories?.Add(directory);
        }

        // A random name from the process's random generator, not Guid.NewGuid (a read of the kernel's random device per
        // file); CreateNew refuses a name that exists, so a clash can only fail this one file, never overwrite one.
        var staged = new StagedDownload(path, full, Path.Combine(directory, IgnoreMatcher.TempPrefix + RandomNumberGenerator.GetHexString(32, lowercase: true)), plan, expectedLocal, racyBaseHash);
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
    /// The second half of a download, once the barrier made the temp file durable: the final checks (no folder at the
    /// name, no link on the way, the local file as the plan saw it, else it is kept as a conflicted copy), then the
    /// rename into place. The caller makes the folder's entry durable, then records <see cref="PlacedDownload.Record"/>.
    /// </summary>
    public async Task<PlacedDownload> PlaceAsync(StagedDownload staged, CancellationToken ct)
    {
        var path = staged.Path;
        var full = staged.Full;
        string? conflictCopy = null;

        // One look at the name serves both checks below (a folder there; the local file as the plan saw it). A link
        // there counts as a folder when it leads to one, as Directory.Exists would say.
        var local = new FileInfo(full);
        if (local.Attributes is var attributes && (int)attributes != -1 && (attributes & FileAttributes.Directory) != 0)
        {
            throw new DropboxException(ErrorKind.Conflict, $"'{path}' is a folder here and a file remotely; rename one of them.");
        }

        // Checked again before anything is moved: a folder on the way (or the name itself) that became a link while
        // the bytes came in is refused, the local file stays where it is and the temp file is deleted by the caller.
        // This is check-then-act: a local process racing the rename is out of scope (see the README).
        _ = _ctx.WritePath(path);
        if (await LocalChangedSincePlanAsync(local, staged.ExpectedLocal, staged.RacyBaseHash, ct).ConfigureAwait(false))
        {
            // Never overwrite a local edit the plan did not see: keep it beside the download.
            conflictCopy = _conflictName(path);
            File.Move(full, _ctx.WritePath(conflictCopy));
            _summary.AddConflict();
            _ctx.Progress.Log($"conflict: '{path}' changed here during the download; your version is kept as '{conflictCopy}'");
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

        FileRename.Replace(staged.Temp, full);
        staged.Placed = true;
        var written = staged.Written ?? FileStamp.Of(new FileInfo(full));
        var ids = new List<ChunkId>(staged.Chunks.Count);
        foreach (var chunk in staged.Chunks)
        {
            ids.Add(chunk.Id);
        }

        var record = new FileRecord(path, FileKind.File, written.Size, written.MtimeTicks, staged.Plan.Entry.Version, FileVersion.ComputeContentHash(ids)) { Executable = executable };
        return new PlacedDownload(record, conflictCopy);
    }

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
