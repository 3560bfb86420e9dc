using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Uploads many small files with few round trips: plans in parallel, puts the missing chunks of a whole
/// group of files in shared batches (one durable write per batch on the storage node, not one per file),
/// then commits the group with one <c>CommitFiles</c> call (one metadata write batch). Anything unusual
/// for a file (a conflict, a chunk the server still misses, a file changing meanwhile) hands that file
/// back to the one-file path, which knows how to resolve it.
/// </summary>
internal sealed class SmallFileUploader
{
    /// <summary>Files at most this large go through the batched path (read whole into memory).</summary>
    public const long MaxFileSize = 1 << 20;

    /// <summary>Files per group (the server accepts at most 1000 per CommitFiles call).</summary>
    public const int GroupSize = 250;

    /// <summary>
    /// File sizes (as scanned) per group: a group is cut before a file would take it past this. A soft bound on the
    /// memory a group holds: LZ4 copies of compressible chunks sit next to the raw bytes, and a file read for its group
    /// is read no further than its scanned size (plus one byte to notice growth).
    /// </summary>
    public const long MaxGroupBytes = 16 << 20;

    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;
    private readonly SemaphoreSlim _puts;
    private readonly FileHasher _hasher;

    /// <summary>
    /// One group records its files at a time: the groups in flight finish close together, and the second one's
    /// <see cref="LocalState.PutFiles"/> spun on the database's lock (a few % of a first sync's CPU) where it now
    /// waits without a thread.
    /// </summary>
    private readonly SemaphoreSlim _recording = new(1, 1);

    /// <summary>
    /// Storage nodes that refused a put as full or did not answer, shared with the one-file path (FileUploader's set):
    /// later plans ask to be placed elsewhere, so a node that fills between heartbeats fails one group, not each.
    /// </summary>
    private readonly AvoidedNodes _avoidNodes;

    public SmallFileUploader(SyncContext ctx, SyncSummary summary, SemaphoreSlim puts, FileHasher hasher, AvoidedNodes? avoidNodes = null)
    {
        _ctx = ctx;
        _summary = summary;
        _puts = puts;
        _hasher = hasher;
        _avoidNodes = avoidNodes ?? new AvoidedNodes(ctx.Time);
    }

    /// <summary>
    /// Uploads what it can; returns the actions it handed back to the one-file path. An action without a
    /// fingerprint (a new file whose hashing was left to the upload) is read once, hashed and sent from that read.
    /// </summary>
    public async Task<List<SyncAction>> UploadAsync(IReadOnlyList<SyncAction> uploads, CancellationToken ct)
    {
        var handBack = new List<SyncAction>();
        var inFlight = new Queue<Task<List<SyncAction>>>();
        var group = new List<SyncAction>();
        long groupBytes = 0;
        ExceptionDispatchInfo? failed = null;
        try
        {
            foreach (var upload in uploads)
            {
                var size = upload.Fingerprint?.Size ?? upload.Local!.Size;
                if (group.Count >= GroupSize || groupBytes + size > MaxGroupBytes)
                {
                    await StartAsync().ConfigureAwait(false);
                }

                group.Add(upload);
                groupBytes += size;
            }

            await StartAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            failed = ExceptionDispatchInfo.Capture(e);
        }

        // Every group is waited for, also when one failed or the pass was cancelled (the first failure is rethrown
        // after): no group is left running behind the caller's back, to commit and record after it has moved on.
        while (inFlight.Count > 0)
        {
            try
            {
                handBack.AddRange(await inFlight.Dequeue().ConfigureAwait(false));
            }
            catch (Exception e)
            {
                failed ??= ExceptionDispatchInfo.Capture(e);
            }
        }

        failed?.Throw();
        return handBack;

        async Task StartAsync()
        {
            if (group.Count > 0)
            {
                inFlight.Enqueue(UploadOrHandBackAsync(group, ct));
                group = [];
                groupBytes = 0;
            }

            // A bounded overlap: while the node plans, stores and commits one group, the next is read and hashed.
            while (inFlight.Count >= GroupsInFlight)
            {
                handBack.AddRange(await inFlight.Dequeue().ConfigureAwait(false));
            }
        }
    }

    /// <summary>
    /// Groups under way at once (each of at most <see cref="MaxGroupBytes"/> of files as scanned). A group's own steps
    /// take turns between the two processes (read and hash here, plan there, put there, commit there, record here), with
    /// an fsync in both the put and the commit, so with two groups one side often waited for the other; four keep work
    /// queued on both sides of a 2-core machine. The file bytes held stay at about 64 MiB (plus LZ4 copies), as with two
    /// groups of 32.
    /// </summary>
    public const int GroupsInFlight = 4;

    private async Task<List<SyncAction>> UploadOrHandBackAsync(List<SyncAction> group, CancellationToken ct)
    {
        try
        {
            var nodeFailed = new StrongBox<bool>();
            try
            {
                return await UploadGroupAsync(group, nodeFailed, ct).ConfigureAwait(false);
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.ResourceExhausted or ErrorKind.Unavailable && nodeFailed.Value && !ct.IsCancellationRequested)
            {
                // A put of this group's own plan found its node full or down (now avoided): the group is planned again
                // on the others once, rather than every file one by one. Puts that did land are named as held by the
                // new plan. Another group's node failure, a quota refusal or a failed commit is no reason to.
                return await UploadGroupAsync(group, new StrongBox<bool>(), ct).ConfigureAwait(false);
            }
        }
        catch (DropboxException)
        {
            // E.g. a server without PlanUploads or CommitFiles, a node that failed a batch: the one-file path retries
            // each file and reports what still fails, file by file.
            return group;
        }
    }

    private async Task<List<SyncAction>> UploadGroupAsync(List<SyncAction> group, StrongBox<bool> nodeFailed, CancellationToken ct)
    {
        var handBack = new List<SyncAction>();
        var ready = new Ready?[group.Count];
        try
        {
            await PrepareAsync(group, ready, ct).ConfigureAwait(false);
        }
        catch
        {
            // A plan call failed (the caller hands the group back): give back the buffers of the files already read.
            foreach (var r in ready)
            {
                Dispose(r?.Chunks ?? []);
            }

            throw;
        }

        for (var i = 0; i < group.Count; i++)
        {
            if (ready[i] is null)
            {
                handBack.Add(group[i]);
            }
        }

        var accepted = ready.OfType<Ready>().ToList();
        await PutAllAsync(accepted, nodeFailed, ct).ConfigureAwait(false);
        if (accepted.Count == 0)
        {
            return handBack;
        }

        // A file written to after it was read goes back to the one-file path, which reports it as changing.
        accepted.RemoveAll(r =>
        {
            if (FileUploader.StillAsHashed(_ctx.FullPath(r.Action.Path), r.Fingerprint))
            {
                return false;
            }

            handBack.Add(r.Action);
            return true;
        });
        if (accepted.Count == 0)
        {
            return handBack;
        }

        var commit = new CommitFilesRequest();
        foreach (var r in accepted)
        {
            var executable = await CarriedExecutableBit.ForCommitAsync(_ctx, r.Action.Path, r.Action.BaseVersion, r.Fingerprint.Executable, ct, r.Action.Remote).ConfigureAwait(false);
            commit.Files.Add(CommitRequest(r.Action.Path, r.Fingerprint, r.Action.BaseVersion, r.Chunks, executable));
        }

        var response = await _ctx.Metadata.CommitFilesAsync(commit, ct).ConfigureAwait(false);
        var records = new List<(FileRecord, IReadOnlyList<ChunkRef>?)>(accepted.Count);
        for (var i = 0; i < accepted.Count; i++)
        {
            var (a, fp, _, _) = accepted[i];
            if (i < response.Results.Count && response.Results[i] is { StatusCode: 0, Committed: { } committed })
            {
                var version = committed.Entry?.Version is > 0 ? committed.Entry.Version : committed.Sequence;
                records.Add((new FileRecord(a.Path, FileKind.File, fp.Size, RacyClean.Recorded(fp), version, fp.ContentHash) { Executable = commit.Files[i].Executable, ChangeTimeNs = fp.ChangeTimeNs }, fp.Chunks));
            }
        }

        // One transaction for the group's records, not one per file; recorded even when cancelled now (they are committed).
        await _recording.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            _ctx.Db.RecordFiles(records);
        }
        finally
        {
            _recording.Release();
        }

        for (var i = 0; i < accepted.Count; i++)
        {
            var (a, fp, plan, _) = accepted[i];
            var result = i < response.Results.Count ? response.Results[i] : null;
            if (result is { StatusCode: 0, Committed: not null })
            {
                _summary.AddFileUploaded();
                _summary.AddChunksDeduplicated(Math.Max(0, fp.Chunks.Select(c => c.Id).Distinct().Count() - plan.Missing.Select(m => m.ChunkId).Distinct().Count()));
                _ctx.Progress.FileDone();
                _ctx.Progress.AddBytes(fp.Size);
                _ctx.Progress.Log($"uploaded '{a.Path}' ({Format.Bytes(fp.Size)})");
            }
            else
            {
                handBack.Add(a);
            }
        }

        return handBack;
    }

    /// <summary>
    /// Reads and hashes the files of the group without a fingerprint (in parallel), plans the whole group in one
    /// <c>PlanUploads</c> call, then reads the files that have a fingerprint and miss chunks; fills <paramref name="ready"/>.
    /// </summary>
    private async Task PrepareAsync(List<SyncAction> group, Ready?[] ready, CancellationToken ct)
    {
        var fingerprints = new FileFingerprint?[group.Count];
        var read = new List<SourceChunk>?[group.Count];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(2, _ctx.Options.Parallelism * 2), CancellationToken = ct };
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, group.Count), parallel, async (i, token) =>
            {
                var a = group[i];
                if (a.Fingerprint is not null)
                {
                    fingerprints[i] = a.Fingerprint;
                }
                else if (await _hasher.TryReadAsync(_ctx.FullPath(a.Path), a.Local!.Size, a.Local.MtimeTicks, token).ConfigureAwait(false) is { } r)
                {
                    // Read and hashed here, once; a file not as scanned goes back to the one-file path (which reports it).
                    (fingerprints[i], read[i]) = r;
                }
            }).ConfigureAwait(false);

            var planned = new List<int>(group.Count);
            var request = new PlanUploadsRequest();
            var chunksPlanned = 0;
            for (var i = 0; i < group.Count; i++)
            {
                // Files past the server's per-call chunk cap are left unplanned: handed back to the one-file path.
                if (fingerprints[i] is { } fp && chunksPlanned + fp.Chunks.Count <= RemoteBounds.MaxChunksPerPlanCall)
                {
                    chunksPlanned += fp.Chunks.Count;
                    planned.Add(i);
                    request.Files.Add(PlanRequest(group[i].Path, fp, group[i].BaseVersion));
                }
            }

            if (request.Files.Count > 0)
            {
                request.Files[0].AvoidNodes.AddRange(_avoidNodes.Current()); // the server applies the files' lists to the whole call
            }

            if (planned.Count == 0)
            {
                return;
            }

            var response = await _ctx.Metadata.PlanUploadsAsync(request, ct).ConfigureAwait(false);
            if (response.Results.Count != planned.Count)
            {
                throw new DropboxException(ErrorKind.Internal, $"The server answered a plan of {planned.Count} files with {response.Results.Count} results.");
            }

            var toRead = new List<int>();
            for (var k = 0; k < planned.Count; k++)
            {
                var i = planned[k];
                var plan = response.Results[k];
                if (plan.Conflict || RemoteBounds.CheckUploadPlan(request.Files[k], plan) is not null)
                {
                    continue; // handed back: the one-file path plans again and reports a conflict or a refusal for this file alone
                }

                if (read[i] is null && plan.Missing.Count > 0)
                {
                    toRead.Add(i);
                }

                ready[i] = new Ready(group[i], fingerprints[i]!, plan, read[i] ?? []);
                read[i] = null;
            }

            await Parallel.ForEachAsync(toRead, parallel, async (i, token) =>
            {
                var r = ready[i]!;
                if (await ReadAsync(r.Action.Path, r.Fingerprint, token).ConfigureAwait(false) is { } chunks)
                {
                    ready[i] = r with { Chunks = chunks };
                }
                else
                {
                    ready[i] = null;
                }
            }).ConfigureAwait(false);
        }
        finally
        {
            foreach (var chunks in read)
            {
                Dispose(chunks ?? []);
            }
        }
    }

    /// <summary>
    /// The file's chunks with their bytes, or null when it no longer matches what was hashed. Reads at most the
    /// fingerprint's size and one byte more: a small file that grew into a huge one after the scan is handed back
    /// (the one-file path streams it), not loaded whole into memory.
    /// </summary>
    private async Task<List<SourceChunk>?> ReadAsync(string path, FileFingerprint fp, CancellationToken ct)
    {
        List<SourceChunk> chunks;
        try
        {
            if (FileHasher.TryReadExactly(_ctx.FullPath(path), fp.Size) is not { } data)
            {
                return null;
            }

            chunks = await _ctx.Chunker.CutWholeAsync(data, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        if (chunks.Count != fp.Chunks.Count || chunks.Where((c, i) => c.Ref.Id != fp.Chunks[i].Id).Any())
        {
            Dispose(chunks);
            return null;
        }

        return chunks;
    }

    /// <summary>Puts the missing chunks of every file of the group through one queue (a chunk two files hold goes once) and gives back the rest.</summary>
    private async Task PutAllAsync(List<Ready> accepted, StrongBox<bool> nodeFailed, CancellationToken ct)
    {
        var chunks = accepted.SelectMany(r =>
        {
            var wanted = r.Plan.Missing.ToLookup(p => p.ChunkId.ToChunkId());
            return r.Chunks.Select(c => (Chunk: c, Puts: wanted[c.Ref.Id].ToList()));
        }).ToList();
        var next = 0;
        try
        {
            await using var queue = new PutQueue(_ctx, _summary, _puts, _avoidNodes, null, ct);
            try
            {
                while (next < chunks.Count && !queue.Faulted)
                {
                    var (chunk, puts) = chunks[next++];
                    await queue.AddAsync(chunk, puts).ConfigureAwait(false);
                }

                await queue.CompleteAsync().ConfigureAwait(false);
            }
            finally
            {
                nodeFailed.Value |= queue.NodeFailed; // this group's own put: the group may be planned again
            }
        }
        finally
        {
            for (; next < chunks.Count; next++)
            {
                chunks[next].Chunk.Dispose();
            }
        }
    }

    internal static PlanUploadRequest PlanRequest(string path, FileFingerprint fp, ulong baseVersion)
    {
        var plan = new PlanUploadRequest { Path = path, Size = (ulong)fp.Size, MtimeUnixMs = MtimeMs(fp), BaseVersion = baseVersion };
        foreach (var c in fp.Chunks)
        {
            plan.Chunks.Add(c.ToProto());
        }

        return plan;
    }

    private CommitFileRequest CommitRequest(string path, FileFingerprint fp, ulong baseVersion, List<SourceChunk> read, bool executable)
    {
        var commit = new CommitFileRequest { Path = path, Size = (ulong)fp.Size, MtimeUnixMs = MtimeMs(fp), BaseVersion = baseVersion, Device = _ctx.Device, Executable = executable };
        for (var i = 0; i < fp.Chunks.Count; i++)
        {
            commit.Chunks.Add((i < read.Count ? read[i].Ref : fp.Chunks[i]).ToProto());
        }

        return commit;
    }

    private static long MtimeMs(FileFingerprint fp) => new DateTimeOffset(fp.MtimeTicks, TimeSpan.Zero).ToUnixTimeMilliseconds();

    /// <summary>A file of the group that is planned and read, ready to put and commit.</summary>
    private sealed record Ready(SyncAction Action, FileFingerprint Fingerprint, PlanUploadResponse Plan, List<SourceChunk> Chunks);

    private static void Dispose(List<SourceChunk> chunks)
    {
        foreach (var c in chunks)
        {
            c.Dispose();
        }
    }
}
