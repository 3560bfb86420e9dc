using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Plan, put the missing chunks (bounded parallel batches straight to the storage nodes), commit. A file not yet
/// hashed is read once (<see cref="UploadStreamingAsync"/>): its chunks stream through a bounded window, each window
/// is planned while the next is read, and the missing chunks are put as they come. A file already hashed (the
/// planner needed its fingerprint) reads back only the stretches that hold missing chunks, each re-hashed. Memory
/// stays flat in file size either way. Resume is natural: after a crash the server's plan lists only what is still
/// missing.
/// </summary>
internal sealed class FileUploader
{
    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;
    private readonly SemaphoreSlim _puts;

    /// <summary>Storage nodes that refused a put as full (RESOURCE_EXHAUSTED): later plans ask to be placed elsewhere.</summary>
    private readonly AvoidedNodes _fullNodes;

    /// <summary>The nodes later plans avoid (shared with the small-file uploader, which adds the ones it finds full or down).</summary>
    internal AvoidedNodes AvoidNodes => _fullNodes;

    public FileUploader(SyncContext ctx, SyncSummary summary, SemaphoreSlim puts)
    {
        _ctx = ctx;
        _summary = summary;
        _puts = puts;
        _fullNodes = new AvoidedNodes(ctx.Time);
    }

    /// <summary>Uploads a file whose fingerprint is known: one plan of the whole chunk list, the missing chunks, one commit.</summary>
    public async Task<UploadOutcome> UploadAsync(string path, ulong baseVersion, FileFingerprint fp, CancellationToken ct, RemoteEntry? remote = null)
    {
        var full = _ctx.FullPath(path);
        for (var attempt = 0; ; attempt++)
        {
            var plan = new PlanUploadRequest { Path = path, Size = (ulong)fp.Size, MtimeUnixMs = MtimeMs(fp.MtimeTicks), BaseVersion = baseVersion };
            plan.AvoidNodes.AddRange(_fullNodes.Current());
            foreach (var c in fp.Chunks)
            {
                plan.Chunks.Add(c.ToProto());
            }

            PlanUploadResponse planned;
            try
            {
                planned = await _ctx.Metadata.PlanUploadAsync(plan, ct).ConfigureAwait(false);
            }
            catch (DropboxException e) when (e.Kind == ErrorKind.ResourceExhausted && !ct.IsCancellationRequested)
            {
                // Too many puts for one answer (the server's MaxPutsPerPlan, or an older server's message limit): the
                // same file planned by PlanChunks windows, as a streamed upload is.
                _ctx.Progress.Log($"'{path}': its upload plan does not fit one answer ({e.Message}); planning it by windows");
                return await UploadByWindowsAsync(path, baseVersion, fp, remote, ct).ConfigureAwait(false);
            }

            if (planned.Conflict)
            {
                return UploadOutcome.Conflict;
            }

            if (RemoteBounds.CheckUploadPlan(plan, planned) is { } refused)
            {
                throw new DropboxException(ErrorKind.DataLoss, refused);
            }

            var uploaded = new Dictionary<ChunkId, ChunkRef>();
            if (planned.Missing.Count > 0)
            {
                _ctx.Db.BeginUpload(path, fp.Size, fp.MtimeTicks, planned.Missing.Count);
                try
                {
                    if (!await PutMissingAsync(path, full, fp, planned.Missing, uploaded, ct).ConfigureAwait(false))
                    {
                        return UploadOutcome.Changed;
                    }
                }
                catch (DropboxException e) when (e.Kind == ErrorKind.ResourceExhausted && attempt < 2 && !ct.IsCancellationRequested)
                {
                    // This file's own put was refused as full (the node is now in _fullNodes, so the next plan avoids
                    // it); another file finding a node full meanwhile is no reason to plan this one again.
                    _ctx.Progress.Log($"'{path}': a storage node is full; planning again on the others");
                    continue;
                }
            }

            if (!StillAsHashed(full, fp))
            {
                return UploadOutcome.Changed; // written to since it was read: commit nothing half-written
            }

            var distinct = fp.Chunks.Select(c => c.Id).Distinct().Count();
            _summary.AddChunksDeduplicated(Math.Max(0, distinct - planned.Missing.Count));
            if (await CommitAsync(path, baseVersion, fp, uploaded, retryOnMissing: attempt == 0, remote, ct).ConfigureAwait(false) is { } outcome)
            {
                return outcome;
            }
        }
    }

    /// <summary>
    /// Uploads a hashed file whose one-file plan was refused as too large: its chunk list planned by PlanChunks windows
    /// of <see cref="SyncOptions.PlanWindowChunks"/> (as a streamed upload's), each window's missing chunks put before the next is planned, then one commit.
    /// </summary>
    private async Task<UploadOutcome> UploadByWindowsAsync(string path, ulong baseVersion, FileFingerprint fp, RemoteEntry? remote, CancellationToken ct)
    {
        var full = _ctx.FullPath(path);
        for (var attempt = 0; ; attempt++)
        {
            var uploaded = new Dictionary<ChunkId, ChunkRef>();
            var wantedTotal = 0;
            var windowChunks = Math.Max(1, _ctx.Options.PlanWindowChunks);
            for (var start = 0; start < fp.Chunks.Count; start += windowChunks)
            {
                var count = Math.Min(windowChunks, fp.Chunks.Count - start);
                var request = new PlanChunksRequest { Path = path, Size = (ulong)fp.Size, BaseVersion = baseVersion };
                request.AvoidNodes.AddRange(_fullNodes.Current());
                for (var i = start; i < start + count; i++)
                {
                    request.Chunks.Add(fp.Chunks[i].ToProto());
                }

                var planned = await _ctx.Metadata.PlanChunksAsync(request, ct).ConfigureAwait(false);
                if (planned.Conflict)
                {
                    return UploadOutcome.Conflict;
                }

                if (RemoteBounds.CheckUploadPlan(path, Enumerable.Range(start, count).Select(i => fp.Chunks[i].Id), count, planned) is { } refused)
                {
                    throw new DropboxException(ErrorKind.DataLoss, refused);
                }

                // A chunk an earlier window already sent is not sent again.
                var missing = planned.Missing.Where(p => !uploaded.ContainsKey(p.ChunkId.ToChunkId())).ToList();
                if (missing.Count > 0)
                {
                    wantedTotal += missing.Select(p => p.ChunkId).Distinct().Count();
                    _ctx.Db.BeginUpload(path, fp.Size, fp.MtimeTicks, wantedTotal);
                    if (!await PutMissingAsync(path, full, fp, missing, uploaded, ct).ConfigureAwait(false))
                    {
                        return UploadOutcome.Changed;
                    }
                }
            }

            if (!StillAsHashed(full, fp))
            {
                return UploadOutcome.Changed; // written to since it was read: commit nothing half-written
            }

            var distinct = fp.Chunks.Select(c => c.Id).Distinct().Count();
            _summary.AddChunksDeduplicated(Math.Max(0, distinct - uploaded.Count));
            if (await CommitAsync(path, baseVersion, fp, uploaded, retryOnMissing: attempt == 0, remote, ct).ConfigureAwait(false) is { } outcome)
            {
                return outcome;
            }
        }
    }

    /// <summary>
    /// Uploads a file not hashed yet, reading it once: each window of chunks (<see cref="SyncOptions.PlanWindowChunks"/>,
    /// <see cref="SyncOptions.PlanWindowBytes"/>) is planned with PlanChunks while the next is read, its missing chunks
    /// are put at once, the rest dropped; the commit names the whole chunk list. Returns the outcome and, when the file
    /// was read whole and unchanged, its fingerprint. A file that changes while it is read is never committed.
    /// </summary>
    public async Task<(UploadOutcome Outcome, FileFingerprint? Fingerprint)> UploadStreamingAsync(string path, ulong baseVersion, LocalEntry scanned, FileHasher hasher, CancellationToken ct, RemoteEntry? remote = null)
    {
        var full = _ctx.FullPath(path);
        var ctime = FileChangeTime.TryGet(full); // before the read starts: each window re-checks against it
        var uploaded = new Dictionary<ChunkId, ChunkRef>();
        var wantedTotal = 0;
        var chunkCount = 0;
        var conflict = false;
        var refusedFull = false;
        var window = new List<SourceChunk>();
        long windowBytes = 0;
        List<SourceChunk>? plannedChunks = null;
        Task<PlanUploadResponse>? planning = null;
        FileFingerprint? fp;
        await using (var queue = new PutQueue(_ctx, _summary, _puts, _fullNodes, path, ct))
        {
            // Awaits the window in planning and hands its missing chunks to the queue; false: stop reading.
            async ValueTask<bool> DrainAsync()
            {
                if (planning is null)
                {
                    return true;
                }

                var chunks = plannedChunks!;
                var answer = planning;
                planning = null;
                plannedChunks = null;
                try
                {
                    var planned = await answer.ConfigureAwait(false);
                    if (planned.Conflict)
                    {
                        conflict = true;
                        return false;
                    }

                    if (RemoteBounds.CheckUploadPlan(path, chunks.Select(c => c.Ref.Id), chunks.Count, planned) is { } refused)
                    {
                        throw new DropboxException(ErrorKind.DataLoss, refused);
                    }

                    // A chunk already sent for this file (an earlier window, or earlier in this one) is not sent again,
                    // even if its "stored" report has not reached the server yet.
                    var wanted = Group(planned.Missing);
                    foreach (var id in uploaded.Keys)
                    {
                        wanted.Remove(id);
                    }

                    if (wanted.Count > 0)
                    {
                        wantedTotal += wanted.Count;
                        _ctx.Db.BeginUpload(path, scanned.Size, scanned.MtimeTicks, wantedTotal);
                    }

                    for (var i = 0; i < chunks.Count && wanted.Count > 0; i++)
                    {
                        var chunk = chunks[i];
                        if (wanted.Remove(chunk.Ref.Id, out var puts))
                        {
                            uploaded[chunk.Ref.Id] = chunk.Ref;
                            chunks[i] = null!;
                            await queue.AddAsync(chunk, puts).ConfigureAwait(false);
                        }
                    }

                    // A queued chunk keeps its whole read block alive: a batch that did not fill in a window goes now.
                    await queue.SendStaleAsync().ConfigureAwait(false);
                    return !queue.Faulted;
                }
                finally
                {
                    DisposeAll(chunks);
                }
            }

            void StartPlan()
            {
                if (window.Count == 0)
                {
                    return;
                }

                var request = new PlanChunksRequest { Path = path, Size = (ulong)scanned.Size, BaseVersion = baseVersion };
                request.AvoidNodes.AddRange(_fullNodes.Current());
                foreach (var c in window)
                {
                    request.Chunks.Add(c.Ref.ToProto());
                }

                plannedChunks = window;
                planning = _ctx.Metadata.PlanChunksAsync(request, ct);
                window = [];
                windowBytes = 0;
            }

            try
            {
                fp = await hasher.TryStreamAsync(full, scanned.Size, scanned.MtimeTicks, async chunk =>
                {
                    if (++chunkCount > RemoteBounds.MaxChunksPerUpload)
                    {
                        chunk.Dispose();
                        throw new DropboxException(ErrorKind.ResourceExhausted, $"'{path}' cuts into more than {RemoteBounds.MaxChunksPerUpload} chunks, the most a server keeps in one file version; it cannot be uploaded.");
                    }

                    window.Add(chunk);
                    windowBytes += chunk.Ref.Size;
                    if (window.Count < _ctx.Options.PlanWindowChunks && windowBytes < _ctx.Options.PlanWindowBytes)
                    {
                        return !queue.Faulted;
                    }

                    // Written to since the read began: stop before planning and sending more of it.
                    if (!FileHasher.IsAsScanned(full, scanned.Size, scanned.MtimeTicks, ctime) || !await DrainAsync().ConfigureAwait(false))
                    {
                        return false;
                    }

                    StartPlan();
                    return true;
                }, ct, fastHash: _ctx.FastHashFor(scanned.Size)).ConfigureAwait(false);

                if (fp is not null && await DrainAsync().ConfigureAwait(false))
                {
                    StartPlan();
                    await DrainAsync().ConfigureAwait(false);
                }

                if (!conflict)
                {
                    try
                    {
                        await queue.CompleteAsync().ConfigureAwait(false); // throws the first failed put
                    }
                    catch (DropboxException e) when (e.Kind == ErrorKind.ResourceExhausted && !ct.IsCancellationRequested)
                    {
                        // This file's own put was refused as full (SendAsync put the node in _fullNodes): planned again
                        // below, avoiding it, rather than failing the file for this pass.
                        _ctx.Progress.Log($"'{path}': a storage node is full; planning again on the others");
                        refusedFull = true;
                    }
                }
            }
            finally
            {
                DisposeAll(window);
                if (planning is not null)
                {
                    try
                    {
                        await planning.ConfigureAwait(false);
                    }
                    catch
                    {
                        // Abandoned: the pass already fails (or stops) for another reason.
                    }

                    DisposeAll(plannedChunks!);
                }
            }
        }

        if (conflict)
        {
            return (UploadOutcome.Conflict, null);
        }

        if (refusedFull)
        {
            // As a hashed file's upload: the whole chunk list planned again with the full nodes avoided (and planned
            // once more if another fills up); chunks already reported stored are not sent again, others may be. The
            // read stopped at the refusal, so the file is hashed first, and it must still be the file the scan saw
            // (size and mtime) and the read began on (ctime, where known, as each window checks).
            var hashed = fp is not null && StillAsHashed(full, fp) ? fp : await hasher.TryHashAsync(full, ct).ConfigureAwait(false);
            if (hashed is null || FileStamp.Of(hashed) != FileStamp.Of(scanned) || (ctime is not null && hashed.ChangeTimeNs != ctime))
            {
                return (UploadOutcome.Changed, null);
            }

            return (await UploadAsync(path, baseVersion, hashed, ct, remote).ConfigureAwait(false), hashed);
        }

        if (fp is null || !StillAsHashed(full, fp))
        {
            return (UploadOutcome.Changed, null); // written to since (or while) it was read: commit nothing half-written
        }

        var distinct = fp.Chunks.Select(c => c.Id).Distinct().Count();
        _summary.AddChunksDeduplicated(Math.Max(0, distinct - uploaded.Count));
        if (await CommitAsync(path, baseVersion, fp, uploaded, retryOnMissing: true, remote, ct).ConfigureAwait(false) is { } outcome)
        {
            return (outcome, fp);
        }

        // A chunk the windows said was held is gone now: plan the whole list again, as a hashed file's upload would.
        return (await UploadAsync(path, baseVersion, fp, ct, remote).ConfigureAwait(false), fp);
    }

    /// <summary>True when the file still has the size, mtime and (where known) ctime it had when <paramref name="fp"/> was computed.</summary>
    internal static bool StillAsHashed(string fullPath, FileFingerprint fp) => FileHasher.IsAsScanned(fullPath, fp.Size, fp.MtimeTicks, fp.ChangeTimeNs);

    private static long MtimeMs(long mtimeTicks) => new DateTimeOffset(mtimeTicks, TimeSpan.Zero).ToUnixTimeMilliseconds();

    private static void DisposeAll(List<SourceChunk> chunks)
    {
        foreach (var c in chunks)
        {
            c?.Dispose();
        }

        chunks.Clear();
    }

    /// <summary>The plan's puts by chunk: with replication, the plan names the same chunk once per node that must hold it.</summary>
    private static Dictionary<ChunkId, List<ChunkPut>> Group(IEnumerable<ChunkPut> missing)
    {
        var wanted = new Dictionary<ChunkId, List<ChunkPut>>();
        foreach (var put in missing)
        {
            var id = put.ChunkId.ToChunkId();
            if (!wanted.TryGetValue(id, out var puts))
            {
                wanted[id] = puts = [];
            }

            puts.Add(put);
        }

        return wanted;
    }

    /// <summary>Commits <paramref name="fp"/>'s chunk list; null when the server has not verified every chunk and one more plan may fix it.</summary>
    private async Task<UploadOutcome?> CommitAsync(string path, ulong baseVersion, FileFingerprint fp, Dictionary<ChunkId, ChunkRef> uploaded, bool retryOnMissing, RemoteEntry? remote, CancellationToken ct)
    {
        var executable = await CarriedExecutableBit.ForCommitAsync(_ctx, path, baseVersion, fp.Executable, ct, remote).ConfigureAwait(false);
        var commit = new CommitFileRequest { Path = path, Size = (ulong)fp.Size, MtimeUnixMs = MtimeMs(fp.MtimeTicks), BaseVersion = baseVersion, Device = _ctx.Device, Executable = executable };
        foreach (var c in fp.Chunks)
        {
            commit.Chunks.Add((uploaded.TryGetValue(c.Id, out var sent) ? sent : c).ToProto());
        }

        try
        {
            var committed = await _ctx.Metadata.CommitFileAsync(commit, ct).ConfigureAwait(false);
            var version = committed.Entry?.Version is > 0 ? committed.Entry.Version : committed.Sequence;
            _ctx.Db.RecordFile(new FileRecord(path, FileKind.File, fp.Size, RacyClean.Recorded(fp), version, fp.ContentHash) { Executable = executable, ChangeTimeNs = fp.ChangeTimeNs }, fp.Chunks, fp.FastHashes);
            _ctx.Db.EndUpload(path);
            _summary.AddFileUploaded();
            return UploadOutcome.Committed;
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.Conflict)
        {
            return UploadOutcome.Conflict;
        }
        catch (DropboxException e) when (e.Kind == ErrorKind.NotFound && e.Details.ContainsKey(RemoteErrors.MissingChunks) && retryOnMissing)
        {
            _ctx.Progress.Log($"'{path}': the server has not verified every chunk yet; planning again");
            return null;
        }
    }

    /// <summary>
    /// Reads back only the stretches of the file that hold a missing chunk (consecutive ones as one stretch), cuts and
    /// hashes them again, and puts them. False when a stretch no longer holds the chunks <paramref name="fp"/> lists
    /// (the file changed since it was hashed).
    /// </summary>
    private async Task<bool> PutMissingAsync(string path, string full, FileFingerprint fp, IEnumerable<ChunkPut> missing, Dictionary<ChunkId, ChunkRef> uploaded, CancellationToken ct)
    {
        var wanted = Group(missing);
        var stretches = new List<(int First, int Count, long Offset, long Length)>();
        var taken = new HashSet<ChunkId>();
        long offset = 0;
        for (var i = 0; i < fp.Chunks.Count; i++)
        {
            var c = fp.Chunks[i];
            if (wanted.ContainsKey(c.Id) && taken.Add(c.Id))
            {
                if (stretches.Count > 0 && stretches[^1] is var last && last.First + last.Count == i)
                {
                    stretches[^1] = (last.First, last.Count + 1, last.Offset, last.Length + c.Size);
                }
                else
                {
                    stretches.Add((i, 1, offset, c.Size));
                }
            }

            offset += c.Size;
        }

        await using var queue = new PutQueue(_ctx, _summary, _puts, _fullNodes, path, ct);
        using (var handle = File.OpenHandle(full, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous))
        {
            foreach (var stretch in stretches)
            {
                if (!StillAsHashed(full, fp))
                {
                    return false; // written to since it was hashed: read and send no more of it
                }

                var index = stretch.First;
                await using var stream = new FileRangeStream(handle, stretch.Offset, stretch.Length);
                await foreach (var chunk in _ctx.Chunker.ReadAsync(stream, keepData: true, ct).ConfigureAwait(false))
                {
                    if (index >= stretch.First + stretch.Count || fp.Chunks[index].Id != chunk.Ref.Id)
                    {
                        chunk.Dispose();
                        return false;
                    }

                    index++;
                    if (wanted.Remove(chunk.Ref.Id, out var puts))
                    {
                        uploaded[chunk.Ref.Id] = chunk.Ref;
                        await queue.AddAsync(chunk, puts).ConfigureAwait(false);
                    }
                    else
                    {
                        chunk.Dispose();
                    }

                    if (queue.Faulted)
                    {
                        break;
                    }
                }

                if (queue.Faulted)
                {
                    break;
                }

                if (index != stretch.First + stretch.Count)
                {
                    return false; // shorter than it was: changed
                }
            }
        }

        await queue.CompleteAsync().ConfigureAwait(false);
        return wanted.Count == 0;
    }
}
