using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Plan, put the missing chunks (bounded parallel batches straight to the storage nodes), commit.
/// The file is read twice for a large upload — ids first (nothing kept), then only the missing chunks'
/// bytes — so memory stays flat in file size. Resume is natural: after a crash the server's plan lists
/// only what is still missing.
/// </summary>
internal sealed class FileUploader
{
    private readonly SyncContext _ctx;
    private readonly SyncSummary _summary;
    private readonly SemaphoreSlim _puts;

    public FileUploader(SyncContext ctx, SyncSummary summary, SemaphoreSlim puts)
    {
        _ctx = ctx;
        _summary = summary;
        _puts = puts;
    }

    public async Task<UploadOutcome> UploadAsync(string path, ulong baseVersion, FileFingerprint fp, CancellationToken ct)
    {
        var full = _ctx.FullPath(path);
        var mtimeMs = new DateTimeOffset(fp.MtimeTicks, TimeSpan.Zero).ToUnixTimeMilliseconds();
        for (var attempt = 0; ; attempt++)
        {
            var plan = new PlanUploadRequest { Path = path, Size = (ulong)fp.Size, MtimeUnixMs = mtimeMs, BaseVersion = baseVersion };
            foreach (var c in fp.Chunks)
            {
                plan.Chunks.Add(c.ToProto());
            }

            var planned = await _ctx.Metadata.PlanUploadAsync(plan, ct).ConfigureAwait(false);
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
                _ctx.State.BeginUpload(path, fp.Size, fp.MtimeTicks, planned.Missing.Count);
                if (!await PutMissingAsync(path, full, fp, planned.Missing, uploaded, ct).ConfigureAwait(false))
                {
                    return UploadOutcome.Changed;
                }
            }

            if (!StillAsHashed(full, fp))
            {
                return UploadOutcome.Changed; // written to since it was read: commit nothing half-written
            }

            var distinct = fp.Chunks.Select(c => c.Id).Distinct().Count();
            _summary.AddChunksDeduplicated(Math.Max(0, distinct - planned.Missing.Count));

            var commit = new CommitFileRequest { Path = path, Size = (ulong)fp.Size, MtimeUnixMs = mtimeMs, BaseVersion = baseVersion, Device = _ctx.Device };
            foreach (var c in fp.Chunks)
            {
                commit.Chunks.Add((uploaded.TryGetValue(c.Id, out var sent) ? sent : c).ToProto());
            }

            try
            {
                var committed = await _ctx.Metadata.CommitFileAsync(commit, ct).ConfigureAwait(false);
                var version = committed.Entry?.Version is > 0 ? committed.Entry.Version : committed.Sequence;
                _ctx.State.PutFile(new FileRecord(path, FileKind.File, fp.Size, RacyClean.Recorded(fp), version, fp.ContentHash), fp.Chunks);
                _ctx.State.EndUpload(path);
                _summary.AddFileUploaded();
                return UploadOutcome.Committed;
            }
            catch (DropboxException e) when (e.Kind == ErrorKind.Conflict)
            {
                return UploadOutcome.Conflict;
            }
            catch (DropboxException e) when (e.Kind == ErrorKind.NotFound && e.Details.ContainsKey(RemoteErrors.MissingChunks) && attempt == 0)
            {
                _ctx.Progress.Log($"'{path}': the server has not verified every chunk yet; planning again");
            }
        }
    }

    /// <summary>True when the file still has the size and mtime it had when <paramref name="fp"/> was computed.</summary>
    internal static bool StillAsHashed(string fullPath, FileFingerprint fp) => FileHasher.IsAsScanned(fullPath, fp.Size, fp.MtimeTicks);

    private async Task<bool> PutMissingAsync(string path, string full, FileFingerprint fp, IEnumerable<ChunkPut> missing, Dictionary<ChunkId, ChunkRef> uploaded, CancellationToken ct)
    {
        // With replication, the plan names the same chunk once per node that must hold it.
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

        var batches = new Dictionary<string, Batch>(StringComparer.Ordinal);
        var inFlight = new List<Task>();
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            await using var stream = FileHasher.OpenRead(full);
            var index = 0;
            await foreach (var chunk in _ctx.Chunker.ReadAsync(stream, keepData: true, ct).ConfigureAwait(false))
            {
                var keep = false;
                try
                {
                    if (index >= fp.Chunks.Count || fp.Chunks[index].Id != chunk.Ref.Id)
                    {
                        return false;
                    }

                    index++;
                    if (wanted.Remove(chunk.Ref.Id, out var puts))
                    {
                        lock (uploaded)
                        {
                            uploaded[chunk.Ref.Id] = chunk.Ref;
                        }

                        // Replicas get copies first: the original belongs to the first batch, which may be
                        // sent and disposed as soon as it is added.
                        for (var r = puts.Count - 1; r >= 0; r--)
                        {
                            var url = puts[r].Node.GrpcUrl;
                            if (!batches.TryGetValue(url, out var batch))
                            {
                                batches[url] = batch = new Batch(puts[r].Node);
                            }

                            if (r == 0)
                            {
                                batch.Add(chunk, puts[r].Token);
                                keep = true;
                            }
                            else
                            {
                                batch.AddReplica(chunk, puts[r].Token);
                            }

                            if (batch.Bytes >= _ctx.Options.PutBatchBytes || batch.Outgoing.Count >= _ctx.Options.PutBatchChunks)
                            {
                                batches.Remove(url);
                                inFlight.Add(await SendAsync(path, batch, failed, ct).ConfigureAwait(false));
                            }
                        }
                    }
                }
                finally
                {
                    if (!keep)
                    {
                        chunk.Dispose();
                    }
                }

                if (inFlight.Any(t => t.IsFaulted))
                {
                    break;
                }
            }

            if (!inFlight.Any(t => t.IsFaulted))
            {
                foreach (var batch in batches.Values)
                {
                    inFlight.Add(await SendAsync(path, batch, failed, ct).ConfigureAwait(false));
                }

                batches.Clear();
            }

            await Task.WhenAll(inFlight).ConfigureAwait(false);
            return wanted.Count == 0;
        }
        finally
        {
            foreach (var batch in batches.Values)
            {
                batch.Dispose();
            }

            if (inFlight.Count > 0)
            {
                await failed.CancelAsync().ConfigureAwait(false);
                try
                {
                    await Task.WhenAll(inFlight).ConfigureAwait(false);
                }
                catch
                {
                    // The first failure was already observed above (or the pass is being cancelled).
                }
            }
        }
    }

    private async Task<Task> SendAsync(string path, Batch batch, CancellationTokenSource failed, CancellationToken ct)
    {
        await _puts.WaitAsync(ct).ConfigureAwait(false);
        return Task.Run(async () =>
        {
            try
            {
                await _ctx.Transfer.PutChunksAsync(batch.Node, batch.Outgoing, failed.Token).ConfigureAwait(false);

                // Only the plan tells what this account need not send; a node answers every put alike.
                _summary.AddChunksUploaded(batch.Outgoing.Count);
                _summary.AddBytesUploaded(batch.Outgoing.Sum(c => (long)c.Stored.Length));
                _ctx.Progress.AddBytes(batch.PlainBytes);
                _ctx.State.AddUploadProgress(path, batch.Outgoing.Count);
            }
            catch
            {
                await failed.CancelAsync().ConfigureAwait(false);
                throw;
            }
            finally
            {
                batch.Dispose();
                _puts.Release();
            }
        }, CancellationToken.None);
    }

    private sealed class Batch(ChunkLocation node) : IDisposable
    {
        private readonly List<SourceChunk> _owned = [];

        public ChunkLocation Node { get; } = node;

        public List<OutgoingChunk> Outgoing { get; } = [];

        public long Bytes { get; private set; }

        public long PlainBytes { get; private set; }

        public void Add(SourceChunk chunk, string token)
        {
            _owned.Add(chunk);
            Outgoing.Add(new OutgoingChunk(chunk.Ref.Id, chunk.Ref.Encoding, chunk.Ref.Size, token, chunk.Stored));
            Bytes += chunk.Stored.Length;
            PlainBytes += chunk.Ref.Size;
        }

        /// <summary>Adds a copy of a chunk for another replica; progress counts the original only.</summary>
        public void AddReplica(SourceChunk chunk, string token)
        {
            var copy = chunk.Stored.ToArray();
            Outgoing.Add(new OutgoingChunk(chunk.Ref.Id, chunk.Ref.Encoding, chunk.Ref.Size, token, copy));
            Bytes += copy.Length;
        }

        public void Dispose()
        {
            foreach (var c in _owned)
            {
                c.Dispose();
            }

            _owned.Clear();
        }
    }
}
