using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.MetadataNode.Domain;

internal sealed partial class MetadataStore
{
    /// <summary>
    /// The chunks this namespace must upload, a node and a put token for each. A chunk counts as held only
    /// if this namespace references it or uploaded it itself (and it is still stored): whether another
    /// namespace holds a hash is never revealed.
    /// </summary>
    public PlanUploadResponse PlanUpload(UserInfo user, FileUpload upload)
    {
        var ns = Namespace(user);
        var response = new PlanUploadResponse();
        JudgeAgainstCurrent(ns, upload, response);
        PlanMissing(ns, upload.Chunks, response);
        return response;
    }

    /// <summary>
    /// Sets <paramref name="response"/>'s current version and conflict flag from the file now at the upload's path, and
    /// refuses (RESOURCE_EXHAUSTED) an upload that would take the account over its quota.
    /// </summary>
    private void JudgeAgainstCurrent(NamespaceState ns, FileUpload upload, PlanUploadResponse response)
    {
        var fileBytes = _engine.Get(Keys.File(ns.Id, upload.Path), _engine.Files);
        ulong currentSize = 0;
        if (fileBytes is not null)
        {
            var current = FileRecord.Parser.ParseFrom(fileBytes).Current;
            if (IsLive(current))
            {
                response.CurrentVersion = current.Version;
                response.Conflict = upload.BaseVersion != current.Version && !SameContent(current, upload);
                currentSize = IsLiveFile(current) ? current.Size : 0;
            }
        }

        EnsureWithinQuota(ns.Record, upload.Path, upload.Size, currentSize);
    }

    /// <summary>
    /// Plans one window of a large file's chunks while the client still reads it (the one-read upload): the same
    /// answer, pending-put bound and tokens as <see cref="PlanUpload"/> gives for these chunks. The conflict flag is
    /// set only when a commit is certain to be refused (a stale base and a current version of another size, so not the
    /// same content); anything else is left to the commit, which judges the whole chunk list.
    /// </summary>
    public PlanUploadResponse PlanChunks(UserInfo user, ChunkWindow window)
    {
        var ns = Namespace(user);
        var response = new PlanUploadResponse();
        var fileBytes = _engine.Get(Keys.File(ns.Id, window.Path), _engine.Files);
        ulong currentSize = 0;
        if (fileBytes is not null)
        {
            var current = FileRecord.Parser.ParseFrom(fileBytes).Current;
            if (IsLive(current))
            {
                response.CurrentVersion = current.Version;
                response.Conflict = window.BaseVersion != current.Version && (current.Kind != EntryKind.File || current.Size != window.Size);
                currentSize = IsLiveFile(current) ? current.Size : 0;
            }
        }

        EnsureWithinQuota(ns.Record, window.Path, window.Size, currentSize);
        PlanMissing(ns, window.Chunks, response);
        return response;
    }

    /// <summary>
    /// Adds to <paramref name="response"/> a put (node and token) for each chunk this namespace must upload. A chunk
    /// counts as held only if this namespace references it or uploaded it itself (and it is still stored).
    /// </summary>
    private void PlanMissing(NamespaceState ns, IReadOnlyList<ChunkRef> chunks, PlanUploadResponse response)
    {
        List<ChunkId>? pending = null;
        var missing = new List<ChunkId>();
        var seen = new HashSet<ChunkId>(chunks.Count);
        foreach (var chunk in chunks)
        {
            if (!seen.Add(chunk.Id))
            {
                continue;
            }

            var nsChunkBytes = _engine.Get(Keys.NamespaceChunk(ns.Id, chunk.Id), _engine.NamespaceChunks);
            if (nsChunkBytes is not null)
            {
                var nsChunk = NamespaceChunkRecord.Parser.ParseFrom(nsChunkBytes);
                if (nsChunk.Refs > 0)
                {
                    continue;
                }

                if (nsChunk.UploadedUnixMs > 0 && IsStored(ReadChunk(chunk.Id)))
                {
                    (pending ??= []).Add(chunk.Id);
                    continue;
                }
            }

            missing.Add(chunk.Id);
        }

        if (missing.Count > 0)
        {
            var liveNodes = PlacementNodes();
            if (liveNodes.Count == 0)
            {
                throw new DropboxException(ErrorKind.Unavailable, "No storage node is registered and alive: start a storage node (it registers itself) and try again.");
            }

            // Noted (or refused, all or none) before any token is made: a refused plan costs no signing work.
            // A put may start at the last moment its token is valid; its "stored" event and the commit come after.
            var now = _clock.GetUtcNow().UtcTicks;
            ns.Pending.AddAll(missing, now, now + (_options.TokenLifetime + _options.EventWait).Ticks, _options.MaxPendingPutsPerUser);
            foreach (var id in missing)
            {
                foreach (var node in Placement.Choose(liveNodes, id, Math.Max(1, _options.ReplicationFactor)))
                {
                    response.Missing.Add(new ChunkPut
                    {
                        ChunkId = id.ToByteString(),
                        Node = ToLocation(node),
                        Token = _tokens.Issue(TokenOperation.Put, ns.Id, node.NodeId, [id], _options.TokenLifetime),
                    });
                }
            }
        }

        if (pending is not null)
        {
            TouchPending(pending);
        }
    }

    /// <summary>
    /// Commits a new version of a file. Every chunk must be confirmed stored (by a node's event, else by
    /// asking the nodes) or the commit is refused naming the missing ids; a stale base is a conflict.
    /// </summary>
    public async Task<CommitFileResponse> CommitAsync(UserInfo user, FileUpload upload, CancellationToken cancellationToken)
    {
        var ns = Namespace(user);
        await VerifyUnconfirmedAsync(ns.Id, [upload], cancellationToken).ConfigureAwait(false);
        var now = NowMs;
        var response = await MutateDurableAsync(ns, (batch, record) =>
        {
            EnsureWithinQuota(record!, batch, upload);
            var prepared = PrepareCommit(batch, ns.Id, upload, now, out var unchanged);
            return unchanged ?? ApplyCommit(batch, record!, prepared!, now);
        }).ConfigureAwait(false);

        return response;
    }

    /// <summary>
    /// Commits several files in one atomic write batch and one fsync. Each file is judged on its own, as
    /// <see cref="CommitAsync"/> would: a refused file (conflict, missing chunks, folder in the way) gets an
    /// error result and writes nothing, the others commit.
    /// </summary>
    public async Task<CommitFilesResponse> CommitManyAsync(UserInfo user, IReadOnlyList<FileUpload> uploads, CancellationToken cancellationToken)
    {
        if (uploads.Count > Limits.MaxFilesPerBatch)
        {
            throw Limits.TooManyFiles(uploads.Count);
        }

        var total = uploads.Sum(u => (long)u.Chunks.Count);
        if (total > Limits.MaxChunksPerFile)
        {
            throw new DropboxException(ErrorKind.ResourceExhausted, $"Too many chunks in one call: {total}; the limit is MaxChunksPerFile = {Limits.MaxChunksPerFile} in all. Send fewer files per call.");
        }

        EnsureNoFileUnderAnother(uploads);
        var ns = Namespace(user);
        await VerifyUnconfirmedAsync(ns.Id, uploads, cancellationToken).ConfigureAwait(false);
        var now = NowMs;
        var response = await MutateDurableAsync(ns, (batch, record) =>
        {
            var result = new CommitFilesResponse();
            foreach (var upload in uploads)
            {
                FileEntry? prepared;
                CommitFileResponse? unchanged;
                try
                {
                    EnsureWithinQuota(record!, batch, upload);
                    prepared = PrepareCommit(batch, ns.Id, upload, now, out unchanged);
                }
                catch (DropboxException ex) when (ex.Kind is not ErrorKind.Internal)
                {
                    result.Results.Add(ToResult(ex));
                    continue;
                }

                result.Results.Add(new CommitFileResult { Committed = unchanged ?? ApplyCommit(batch, record!, prepared!, now) });
            }

            return result;
        }).ConfigureAwait(false);

        return response;
    }

    /// <summary>
    /// Refuses a batch in which one file's path is a folder of another's (<c>[d/child, d]</c>): each file alone
    /// passes the tree checks against what is stored, but together they describe a tree no disk can hold, and
    /// every later sync of the account failed on it.
    /// </summary>
    private static void EnsureNoFileUnderAnother(IReadOnlyList<FileUpload> uploads)
    {
        var index = new Dictionary<string, int>(uploads.Count, StringComparer.Ordinal);
        for (var i = 0; i < uploads.Count; i++)
        {
            index.TryAdd(uploads[i].Path, i);
        }

        for (var i = 0; i < uploads.Count; i++)
        {
            var path = uploads[i].Path;
            for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
            {
                if (index.TryGetValue(path[..slash], out var parent))
                {
                    throw new DropboxException(ErrorKind.InvalidArgument, $"File #{parent} '{path[..slash]}' is a folder of file #{i} '{path}' in the same call: a path cannot be both a file and a folder. Send one of them.");
                }
            }
        }
    }

    private static CommitFileResult ToResult(DropboxException ex)
    {
        var result = new CommitFileResult
        {
            StatusCode = (int)GrpcErrorMapping.ToStatusCode(ex.Kind),
            ErrorMessage = ex.Message,
        };
        if (ex.Details.TryGetValue("current-version", out var current) && ulong.TryParse(current, System.Globalization.CultureInfo.InvariantCulture, out var v))
        {
            result.CurrentVersion = v;
        }

        if (ex.Details.TryGetValue("missing-chunks", out var missing))
        {
            foreach (var hex in missing.Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                result.MissingChunkIds.Add(ChunkId.Parse(hex).ToByteString());
            }
        }

        return result;
    }

    /// <summary>
    /// Before taking the write lock: asks the nodes about chunks no event confirmed, then waits (bounded by
    /// <see cref="MetadataNodeOptions.EventWait"/>) for this namespace's own "stored" events for chunks it
    /// neither references nor is known to have uploaded. A chunk stored only by someone else is not enough:
    /// otherwise knowing a hash would be enough to claim, and then download, another user's file.
    /// </summary>
    private async Task VerifyUnconfirmedAsync(string ns, IReadOnlyList<FileUpload> uploads, CancellationToken cancellationToken)
    {
        List<ChunkRef>? unconfirmed = null;
        var distinct = new List<ChunkId>();
        var seen = new HashSet<ChunkId>();
        foreach (var upload in uploads)
        {
            foreach (var chunk in upload.Chunks)
            {
                if (seen.Add(chunk.Id))
                {
                    distinct.Add(chunk.Id);
                    var record = ReadChunk(chunk.Id);
                    if ((record is null || (record.State != ChunkState.Stored && record.State != ChunkState.Deleting)) && PutPending(ns, chunk.Id))
                    {
                        (unconfirmed ??= []).Add(chunk);
                    }
                }
            }
        }

        if (unconfirmed is not null)
        {
            await VerifyWithNodesAsync(unconfirmed, cancellationToken).ConfigureAwait(false);
        }

        var deadline = DateTime.UtcNow + _options.EventWait;
        for (var round = 0; round < 10_000; round++)
        {
            var signal = _eventsSignal.Current;
            // Wait only for chunks this namespace was given put tokens for: its own "stored" event may still be on
            // the way. Whether anyone else holds a chunk must not change the timing (or the answer): a commit that
            // names a hash it was never asked to upload fails at once, whoever stores it.
            distinct.RemoveAll(id => OwnedBy(ns, id) || !PutPending(ns, id));
            var remaining = deadline - DateTime.UtcNow;
            if (distinct.Count == 0 || remaining <= TimeSpan.Zero)
            {
                return;
            }

            if (round == 0)
            {
                Interlocked.Increment(ref _eventWaits);
            }

            try
            {
                await signal.WaitAsync(remaining, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return;
            }
        }
    }

    /// <summary>Commits that waited for "stored" events (tests check which commits wait, without timing them).</summary>
    internal long EventWaits => Interlocked.Read(ref _eventWaits);

    private long _eventWaits;

    /// <summary>True while a put token this namespace was given for the chunk is valid, or was until an event wait ago.</summary>
    private bool PutPending(string ns, ChunkId id) =>
        _namespaces.TryGetValue(ns, out var state) && state.Pending.Contains(id, _clock.GetUtcNow().UtcTicks);

    /// <summary>
    /// Waits for room in the account's budget of plan and commit work (<see cref="Limits.MaxChunkWorkInFlightPerUser"/>),
    /// taking <paramref name="chunks"/> units; dispose the lease when the call is done.
    /// </summary>
    public ValueTask<WorkGate.Lease> AdmitAsync(UserInfo user, long chunks, CancellationToken cancellationToken) =>
        Namespace(user).Work.EnterAsync(chunks, cancellationToken);

    /// <summary>Put tokens the account has outstanding (tests and metrics).</summary>
    internal int PendingPutCount(UserInfo user) => Namespace(user).Pending.Count;

    /// <summary>True if the namespace references the chunk or a node reported its own upload of it.</summary>
    private bool OwnedBy(string ns, ChunkId id)
    {
        var bytes = _engine.Get(Keys.NamespaceChunk(ns, id), _engine.NamespaceChunks);
        if (bytes is null)
        {
            return false;
        }

        var record = NamespaceChunkRecord.Parser.ParseFrom(bytes);
        return record.Refs > 0 || record.UploadedUnixMs > 0;
    }

    /// <summary>The quota check of a commit, against the totals as this batch has changed them so far.</summary>
    private static void EnsureWithinQuota(NamespaceRecord record, RecordBatch batch, FileUpload upload)
    {
        if (record.QuotaBytes == 0)
        {
            return;
        }

        var current = batch.GetFile(record.NamespaceId, upload.Path)?.Current;
        EnsureWithinQuota(record, upload.Path, upload.Size, IsLiveFile(current) ? current!.Size : 0);
    }

    /// <summary>
    /// Every check of a commit, staging nothing: returns the new entry (its version not yet assigned), or
    /// null with <paramref name="unchanged"/> set when the content is already current. Throws on refusal.
    /// </summary>
    private FileEntry? PrepareCommit(RecordBatch batch, string ns, FileUpload upload, long now, out CommitFileResponse? unchanged)
    {
        unchanged = null;
        var current = batch.GetFile(ns, upload.Path)?.Current;
        if (IsLive(current))
        {
            if (current!.Kind == EntryKind.Folder)
            {
                throw new DropboxException(ErrorKind.AlreadyExists, $"'{upload.Path}' is a folder; a file cannot replace it. Delete or move the folder first.");
            }

            if (SameContent(current, upload))
            {
                // An identical commit (e.g. a retry after a lost answer) changes nothing and loses nothing.
                unchanged = new CommitFileResponse { Entry = current, Sequence = current.Version };
                return null;
            }

            if (upload.BaseVersion != current.Version)
            {
                throw Conflict(upload.Path, upload.BaseVersion, current.Version);
            }
        }

        EnsureParentsAreNotFiles(batch, ns, upload.Path);
        EnsureNothingLiveUnder(ns, upload.Path);

        List<ChunkId>? missing = null;
        var refs = new List<Proto.ChunkRef>(upload.Chunks.Count);
        foreach (var chunk in upload.Chunks)
        {
            var chunkRecord = batch.GetChunk(chunk.Id);
            var owned = batch.GetNamespaceChunk(ns, chunk.Id) is { } nsChunk && (nsChunk.Refs > 0 || nsChunk.UploadedUnixMs > 0);
            if (!IsStored(chunkRecord) || !owned)
            {
                missing ??= [];
                if (!missing.Contains(chunk.Id))
                {
                    missing.Add(chunk.Id);
                }

                continue;
            }

            if (chunkRecord!.Size != 0 && chunkRecord.Size != chunk.Size)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {chunk.Id} is {chunkRecord.Size} bytes on the storage node, but the commit of '{upload.Path}' says {chunk.Size}.");
            }

            refs.Add(new Proto.ChunkRef
            {
                Id = chunk.Id.ToByteString(),
                Size = (uint)chunk.Size,
                Encoding = chunkRecord.StoredSize != 0 ? chunkRecord.Encoding : (Proto.ChunkEncoding)chunk.Encoding,
                StoredSize = chunkRecord.StoredSize != 0 ? chunkRecord.StoredSize : (uint)chunk.StoredSize,
            });
        }

        if (missing is not null)
        {
            throw MissingChunks(missing);
        }

        var entry = new FileEntry
        {
            Path = upload.Path,
            Size = upload.Size,
            MtimeUnixMs = upload.MtimeUnixMs,
            Kind = EntryKind.File,
            ContentHash = ByteString.CopyFrom(FileVersion.ComputeContentHash(upload.Chunks.Select(c => c.Id))),
            ModifiedBy = upload.Device,
            ServerTimeUnixMs = now,
        };
        entry.Chunks.AddRange(refs);
        return entry;
    }

    /// <summary>Stages a prepared commit: next sequence, version, references, change.</summary>
    private CommitFileResponse ApplyCommit(RecordBatch batch, NamespaceRecord record, FileEntry entry, long now)
    {
        entry.Version = ++record.Head;
        ApplyVersion(batch, record, entry, now);
        AppendChange(batch, record, ChangeKind.Upsert, entry);
        return new CommitFileResponse { Entry = entry, Sequence = entry.Version };
    }

    private static DropboxException MissingChunks(List<ChunkId> missing)
    {
        var shown = string.Join(", ", missing.Take(20));
        var more = missing.Count > 20 ? $" and {missing.Count - 20} more" : string.Empty;
        return new DropboxException(ErrorKind.NotFound,
                $"Commit refused: {missing.Count} chunk(s) are not stored, or no storage node has reported this account's upload of them: {shown}{more}. Upload them (PlanUpload gives put tokens) and commit again.")
            .WithDetail("missing-chunks", string.Join(",", missing.Take(Limits.MaxMissingIdsInTrailer)));
    }

    private static bool SameContent(FileEntry current, FileUpload upload)
    {
        if (current.Kind != EntryKind.File || current.Size != upload.Size || current.Chunks.Count != upload.Chunks.Count)
        {
            return false;
        }

        for (var i = 0; i < upload.Chunks.Count; i++)
        {
            if (current.Chunks[i].Id.ToChunkId() != upload.Chunks[i].Id)
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsStored(ChunkRecord? record) => record is { State: ChunkState.Stored } && record.Locations.Count > 0;

    private ChunkRecord? ReadChunk(ChunkId id)
    {
        var bytes = _engine.Get(Keys.Chunk(id), _engine.Chunks);
        return bytes is null ? null : ChunkRecord.Parser.ParseFrom(bytes);
    }

    /// <summary>Restarts the grace clock of pending (uploaded, not yet committed) chunks a plan told a client it need not send.</summary>
    private void TouchPending(List<ChunkId> ids)
    {
        var now = NowMs;
        Mutate<object?>(null, (batch, _) =>
        {
            foreach (var id in ids)
            {
                var record = batch.GetChunk(id);
                if (record is { Refcount: 0, State: ChunkState.Stored })
                {
                    record.ZeroSinceUnixMs = now;
                    batch.PutChunk(id, record);
                }
            }

            return null;
        });
    }

    /// <summary>Asks the live nodes whether they hold chunks no event confirmed; records what they hold.</summary>
    private async Task VerifyWithNodesAsync(List<ChunkRef> chunks, CancellationToken cancellationToken)
    {
        var nodes = LiveNodes();
        if (nodes.Count == 0)
        {
            return;
        }

        var ids = chunks.Select(c => c.Id).ToList();
        var answers = await Task.WhenAll(nodes.Select(async node =>
        {
            try
            {
                return (Node: node, Present: await _gateway.HasChunksAsync(node, ids, cancellationToken).ConfigureAwait(false));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.NodeUnreachable(_logger, node.NodeId, ex);
                return (Node: node, Present: new bool[ids.Count]);
            }
        })).ConfigureAwait(false);

        var now = NowMs;
        Mutate<object?>(null, (batch, _) =>
        {
            foreach (var (node, present) in answers)
            {
                for (var i = 0; i < chunks.Count; i++)
                {
                    if (present[i])
                    {
                        // The node confirms presence only: sizes and encoding stay as known (or unknown, 0) rather
                        // than taking the committing client's word, which would then stand for every account.
                        MarkStored(batch, node.NodeId, chunks[i].Id, 0, Proto.ChunkEncoding.Raw, 0, now, verified: true);
                    }
                }
            }

            return null;
        });
    }

    /// <summary>
    /// Records that <paramref name="nodeId"/> holds a chunk. An unverified event for a chunk being (or just)
    /// deleted is not trusted: the bytes may be gone, so a commit will ask the node instead. Returns whether the
    /// chunk is now recorded as stored.
    /// </summary>
    private static bool MarkStored(RecordBatch batch, string nodeId, ChunkId id, uint size, Proto.ChunkEncoding encoding, uint storedSize, long now, bool verified)
    {
        var record = batch.GetChunk(id);
        if (record is null)
        {
            record = new ChunkRecord { State = ChunkState.Unknown, ZeroSinceUnixMs = now };
        }

        switch (record.State)
        {
            case ChunkState.Deleting:
                return false;
            case ChunkState.Deleted when !verified:
                return false;
        }

        record.State = ChunkState.Stored;
        record.DeletingLocations.Clear();
        if (!record.Locations.Contains(nodeId))
        {
            record.Locations.Add(nodeId);
        }

        if (size != 0)
        {
            record.Size = size;
            record.Encoding = encoding;
            record.StoredSize = storedSize != 0 ? storedSize : size;
        }

        if (record.Refcount == 0)
        {
            record.ZeroSinceUnixMs = now;
            batch.AddGcCandidate(id);
        }

        batch.PutChunk(id, record);
        return true;
    }
}
