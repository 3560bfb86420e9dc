using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Sync;

/// <summary>The uploader's reads: small files whole, hashed large files by the stretches that hold missing chunks, new large files streamed by windows.</summary>
internal sealed partial class Uploader
{
    /// <summary>
    /// Reads and hashes the small files not hashed yet, in parallel (a file not as scanned is <see cref="UploadOutcome.Changed"/>);
    /// on a server without PlanChunks, hashes the large ones too (they cannot stream). A hashed file is read back after
    /// its plan, only where it holds missing chunks.
    /// </summary>
    private async Task ReadSmallAsync(List<UploadMember> members, CancellationToken ct)
    {
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(2, _ctx.Options.Parallelism * 2), CancellationToken = ct };
        var reads = members.Where(m => m.Open && m.Fingerprint is null && (m.Action.Local is not { } scanned || scanned.Size <= SmallFileSize || _server.NoPlanChunks)).ToList();

        // The small files' bytes go into one pooled buffer for the group, each file a slice (see ReadArena).
        using var arena = ReadArena.For(reads.Sum(m => m.Action.Local is { Size: <= SmallFileSize and > 0 } scanned ? scanned.Size : 0));
        await Parallel.ForEachAsync(reads, parallel, async (m, token) =>
        {
            var scanned = m.Action.Local;
            var full = _ctx.FullPath(m.Path);
            try
            {
                if (scanned is not null && scanned.Size <= SmallFileSize && await _hasher.TryReadAsync(full, scanned.Size, scanned.MtimeTicks, token, arena).ConfigureAwait(false) is { } read)
                {
                    (m.Fingerprint, m.Read) = read;
                    m.ReadRefs = read.Chunks.ConvertAll(c => c.Ref);
                }
                else if (scanned is null || scanned.Size > SmallFileSize || FileHasher.IsAsScanned(full, scanned.Size, scanned.MtimeTicks))
                {
                    // Hashed only now (a large file, one without a scan entry, or a small one still as scanned that the
                    // whole read gave up on: this read throws its error, the file's own). Deleted or written to since the
                    // scan judged it settled, it is left for the next pass.
                    var hashed = await _hasher.TryHashAsync(full, token).ConfigureAwait(false);
                    m.Fingerprint = hashed is not null && (scanned is null || FileStamp.Of(hashed) == FileStamp.Of(scanned)) ? hashed : null;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException && !token.IsCancellationRequested)
            {
                m.Error = e; // unreadable: reported for this file (uploaded alone, where it is thrown), not as "changed"
                return;
            }

            m.Outcome = m.Fingerprint is null ? UploadOutcome.Changed : null; // deleted or written to since the scan
        }).ConfigureAwait(false);
    }

    /// <summary>Puts a planned member's missing chunks (<see cref="PutMissingAsync"/>), or plans and puts it window by window.</summary>
    private Task<bool> PutPlannedAsync(UploadMember m, PutQueue queue, CancellationToken ct) =>
        m.ByWindows ? PutByWindowsAsync(m, queue, ct) : PutMissingAsync(m, queue, ct);

    /// <summary>
    /// Puts a planned member's missing chunks: from its bytes read whole, or read back stretch by stretch (consecutive
    /// missing chunks as one stretch), each re-hashed. False when the file no longer holds the chunks it was hashed as.
    /// </summary>
    private async Task<bool> PutMissingAsync(UploadMember m, PutQueue queue, CancellationToken ct)
    {
        var fp = m.Fingerprint!;
        var wanted = PlannedReads.Group(m.Missing);
        if (wanted.Count > 0 && m.Progressive)
        {
            _ctx.Db.BeginUpload(m.Path, fp.Size, fp.MtimeTicks, wanted.Count);
        }

        if (m.Read is { } read)
        {
            m.Read = null;
            var next = 0;
            try
            {
                while (next < read.Count && !queue.Faulted)
                {
                    var chunk = read[next++];
                    if (wanted.Remove(chunk.Ref.Id, out var puts))
                    {
                        m.Sent[chunk.Ref.Id] = chunk.Ref;
                        await queue.AddAsync(chunk, puts).ConfigureAwait(false);
                    }
                    else
                    {
                        chunk.Dispose();
                    }
                }
            }
            finally
            {
                for (; next < read.Count; next++)
                {
                    read[next].Dispose();
                }
            }

            return true;
        }

        if (wanted.Count == 0)
        {
            return true;
        }

        using var handle = OpenHashed(m);
        return handle is null ? m.Error is not null : await PlannedReads.PutStretchesAsync(_ctx, m, handle, wanted, 0, fp.Chunks.Count, 0, queue, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The hashed member's file, opened to read its missing chunks back; null when it is gone (deleted or moved since it
    /// was hashed: changed) or cannot be read (its own <see cref="UploadMember.Error"/>), never an error of its group.
    /// </summary>
    private SafeFileHandle? OpenHashed(UploadMember m)
    {
        try
        {
            return PlannedReads.OpenForRead(_ctx.FullPath(m.Path));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            m.Error = e;
            return null;
        }
    }

    /// <summary>The server answered PlanChunks with UNIMPLEMENTED (an older metadata node): whole plans from now on.</summary>
    private void NoPlanChunksFound(UploadMember m, string what)
    {
        _server.NoPlanChunks = true;
        _ctx.Progress.Log($"the server does not plan uploads window by window; '{m.Path}' {what}");
    }

    /// <summary>Plans a hashed member whole (PlanUpload) and puts its missing chunks; false when the file changed since it was hashed.</summary>
    private async Task<bool> PlanWholeAsync(UploadMember m, PutQueue queue, CancellationToken ct)
    {
        m.ByWindows = false;
        await _planner.PlanAsync([m], batched: false, ct).ConfigureAwait(false);
        return m.Outcome is not null || await PutMissingAsync(m, queue, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Plans a hashed member by PlanChunks windows of <see cref="SyncOptions.PlanWindowChunks"/>, each window's missing
    /// chunks read back and queued before the next window is planned: the puts of one window are under way while the
    /// next is planned and read, and no window's put tokens wait behind the planning of the whole file. False when the
    /// file no longer holds the chunks it was hashed as; a conflict sets the outcome.
    /// </summary>
    private async Task<bool> PutByWindowsAsync(UploadMember m, PutQueue queue, CancellationToken ct)
    {
        var fp = m.Fingerprint!;
        var full = _ctx.FullPath(m.Path);
        var windowChunks = Math.Max(1, _ctx.Options.PlanWindowChunks);
        var queued = new HashSet<ChunkId>(); // this plan's: a chunk that recurs in a later window is sent once
        var wantedTotal = 0;
        long offset = 0;
        using var handle = OpenHashed(m);
        if (handle is null)
        {
            return m.Error is not null;
        }

        for (var start = 0; start < fp.Chunks.Count && !queue.Faulted; start += windowChunks)
        {
            var count = Math.Min(windowChunks, fp.Chunks.Count - start);
            var ids = new List<ChunkId>(count);
            var request = new PlanChunksRequest { Path = m.Path, Size = (ulong)fp.Size, BaseVersion = m.BaseVersion };
            request.AvoidNodes.AddRange(AvoidNodes.Current());
            long windowBytes = 0;
            for (var i = start; i < start + count; i++)
            {
                request.Chunks.Add(fp.Chunks[i].ToProto());
                ids.Add(fp.Chunks[i].Id);
                windowBytes += fp.Chunks[i].Size;
            }

            PlanUploadResponse planned;
            try
            {
                planned = await _ctx.Metadata.PlanChunksAsync(request, ct).ConfigureAwait(false);
            }
            catch (DropboxException e) when (RemoteErrors.IsUnimplemented(e) && queued.Count == 0)
            {
                // An older server, refusing the first window before anything was put: the file planned whole instead.
                NoPlanChunksFound(m, "is planned whole");
                return await PlanWholeAsync(m, queue, ct).ConfigureAwait(false);
            }

            if (planned.Conflict)
            {
                m.Outcome = UploadOutcome.Conflict;
                return true;
            }

            if (RemoteBounds.CheckUploadPlan(m.Path, ids, count, planned) is { } refused)
            {
                throw new DropboxException(ErrorKind.DataLoss, refused);
            }

            var wanted = PlannedReads.Group(planned.Missing);
            wanted.Keys.Where(queued.Contains).ToList().ForEach(id => wanted.Remove(id));
            if (wanted.Count > 0)
            {
                if (m.Progressive)
                {
                    wantedTotal += wanted.Count;
                    _ctx.Db.BeginUpload(m.Path, fp.Size, fp.MtimeTicks, wantedTotal);
                }

                queued.UnionWith(wanted.Keys);
                if (!await PlannedReads.PutStretchesAsync(_ctx, m, handle, wanted, start, count, offset, queue, ct).ConfigureAwait(false))
                {
                    return false;
                }
            }

            // A queued chunk keeps its read block alive: a batch that did not fill in a window goes now.
            await queue.SendStaleAsync().ConfigureAwait(false);
            offset += windowBytes;
        }

        return true;
    }

    /// <summary>
    /// Uploads a large file not hashed yet, reading it once: each window of chunks (<see cref="SyncOptions.PlanWindowChunks"/>,
    /// <see cref="SyncOptions.PlanWindowBytes"/>) is planned with PlanChunks while the next is read, its missing chunks go
    /// to the queue at once, the rest are dropped. Sets the fingerprint when the file was read whole and unchanged, else
    /// an outcome. A server without PlanChunks has the file hashed and planned whole instead.
    /// </summary>
    private async Task StreamAsync(UploadMember m, PutQueue queue, CancellationToken ct)
    {
        var scanned = m.Action.Local!;
        var full = _ctx.FullPath(m.Path);
        var ctime = FileChangeTime.TryGet(full); // before the read starts: each window re-checks against it
        m.StreamChangeTimeNs = ctime;
        var wantedTotal = 0;
        var chunkCount = 0;
        var window = new List<SourceChunk>();
        long windowBytes = 0;
        List<SourceChunk>? plannedChunks = null;
        Task<PlanUploadResponse>? planning = null;

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
                    m.Outcome = UploadOutcome.Conflict;
                    return false;
                }

                if (RemoteBounds.CheckUploadPlan(m.Path, chunks.Select(c => c.Ref.Id), chunks.Count, planned) is { } refused)
                {
                    throw new DropboxException(ErrorKind.DataLoss, refused);
                }

                // A chunk already sent for this file (an earlier window, or earlier in this one) is not sent again,
                // even if its "stored" report has not reached the server yet.
                var wanted = PlannedReads.Group(planned.Missing);
                foreach (var id in m.Sent.Keys)
                {
                    wanted.Remove(id);
                }

                if (wanted.Count > 0 && m.Progressive)
                {
                    wantedTotal += wanted.Count;
                    _ctx.Db.BeginUpload(m.Path, scanned.Size, scanned.MtimeTicks, wantedTotal);
                }

                for (var i = 0; i < chunks.Count && wanted.Count > 0; i++)
                {
                    var chunk = chunks[i];
                    if (wanted.Remove(chunk.Ref.Id, out var puts))
                    {
                        m.Sent[chunk.Ref.Id] = chunk.Ref;
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

            var request = new PlanChunksRequest { Path = m.Path, Size = (ulong)scanned.Size, BaseVersion = m.BaseVersion };
            request.AvoidNodes.AddRange(AvoidNodes.Current());
            request.Chunks.AddRange(window.Select(c => c.Ref.ToProto()));
            plannedChunks = window;
            planning = _ctx.Metadata.PlanChunksAsync(request, ct);
            window = [];
            windowBytes = 0;
        }

        FileFingerprint? fp;
        try
        {
            fp = await _hasher.TryStreamAsync(full, scanned.Size, scanned.MtimeTicks, async chunk =>
            {
                if (++chunkCount > RemoteBounds.MaxChunksPerUpload)
                {
                    chunk.Dispose();
                    throw new DropboxException(ErrorKind.ResourceExhausted, $"'{m.Path}' cuts into more than {RemoteBounds.MaxChunksPerUpload} chunks, the most a server keeps in one file version; it cannot be uploaded.");
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
        }
        catch (DropboxException e) when (RemoteErrors.IsUnimplemented(e) && m.Sent.Count == 0)
        {
            // An older server: its first window was refused before anything was put. Hashed and planned whole instead.
            NoPlanChunksFound(m, "is hashed first");
            await ReadSmallAsync([m], ct).ConfigureAwait(false);
            if (m.Open && !await PlanWholeAsync(m, queue, ct).ConfigureAwait(false))
            {
                m.Outcome = UploadOutcome.Changed;
            }

            return;
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
                    // Abandoned: the upload already fails (or stops) for another reason.
                }

                DisposeAll(plannedChunks!);
            }
        }

        if (m.Open)
        {
            // Written to since (or while) it was read, or stopped by a failed put (then the queue's completion throws and
            // the file is hashed before it is planned again).
            m.Fingerprint = fp;
            m.Outcome = fp is null && !queue.Faulted ? UploadOutcome.Changed : null;
        }
    }

    /// <summary>
    /// After a node failure stopped the group: a file whose streamed read did not finish is hashed now, and must still be
    /// the file the scan saw (size and mtime) and the read began on (ctime, where known, as each window checks).
    /// </summary>
    private async Task HashStoppedStreamsAsync(List<UploadMember> members, CancellationToken ct)
    {
        // A member without a scan entry (a conflicted copy) was hashed whole before its plan, never streamed.
        foreach (var m in members.Where(m => m.Open && m.Action is { Fingerprint: null, Local.Size: > SmallFileSize }))
        {
            var full = _ctx.FullPath(m.Path);
            var hashed = m.Fingerprint is { } fp && StillAsHashed(full, fp) ? fp : await _hasher.TryHashAsync(full, ct).ConfigureAwait(false);
            var ctime = m.StreamChangeTimeNs;
            m.Fingerprint = hashed is not null && FileStamp.Of(hashed) == FileStamp.Of(m.Action.Local!) && (ctime is null || hashed.ChangeTimeNs == ctime) ? hashed : null;
            m.Outcome = m.Fingerprint is null ? UploadOutcome.Changed : null;
        }
    }

    private static void DisposeAll(List<SourceChunk> chunks)
    {
        foreach (var c in chunks)
        {
            c?.Dispose();
        }

        chunks.Clear();
    }
}
