using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;

namespace Dropbox.MetadataNode.Domain;

internal sealed partial class UploadCommit
{
    /// <summary>
    /// Plans several files at once, each answered exactly as <see cref="PlanUpload"/> would answer it alone. A chunk
    /// named by several files is judged, noted and signed once (every file that misses it gets the same put); one put token covers up to
    /// <see cref="ChunksPerSharedToken"/> chunks for one node. The
    /// puts of the whole call are noted against <see cref="Limits.MaxPendingPutsPerUser"/> all or none, before any
    /// token is signed: a refused call costs no signing work and notes nothing. Each file is held to the account's
    /// quota as PlanUpload holds it; one file over it refuses the whole call (RESOURCE_EXHAUSTED naming the quota).
    /// </summary>
    public PlanUploadResponse[] PlanMany(UserInfo user, IReadOnlyList<FileUpload> uploads)
    {
        if (uploads.Count > Limits.MaxFilesPerBatch)
        {
            throw Limits.TooManyFiles(uploads.Count);
        }

        var total = uploads.Sum(u => (long)u.Chunks.Count);
        if (total > Limits.MaxChunksPerPlanBatch)
        {
            throw Limits.TooManyChunksToPlan(total);
        }

        var ns = Namespace(user);
        var responses = new PlanUploadResponse[uploads.Count];
        var missingOf = new List<ChunkId>?[uploads.Count];
        var judged = new Dictionary<ChunkId, bool>((int)Math.Min(total, 1 << 16));
        var missing = new List<ChunkId>();
        List<ChunkId>? pending = null;
        for (var f = 0; f < uploads.Count; f++)
        {
            var upload = uploads[f];
            var response = responses[f] = new PlanUploadResponse();
            // Each file is judged alone, as PlanUpload judges it: one over the quota refuses the whole call before
            // anything is noted or signed (the client then plans the group's files one by one).
            JudgeAgainstCurrent(ns, upload, response);

            var seen = upload.Chunks.Count > 1 ? new HashSet<ChunkId>(upload.Chunks.Count) : null;
            foreach (var chunk in upload.Chunks)
            {
                if (seen is not null && !seen.Add(chunk.Id))
                {
                    continue;
                }

                if (!judged.TryGetValue(chunk.Id, out var isMissing))
                {
                    isMissing = !HeldBy(ns.Id, chunk.Id, out var isPending);
                    judged[chunk.Id] = isMissing;
                    if (isMissing)
                    {
                        missing.Add(chunk.Id);
                    }
                    else if (isPending)
                    {
                        (pending ??= []).Add(chunk.Id);
                    }
                }

                if (isMissing)
                {
                    (missingOf[f] ??= []).Add(chunk.Id);
                }
            }
        }

        if (missing.Count > 0)
        {
            var liveNodes = PlacementNodes();
            var avoid = uploads.SelectMany(u => u.AvoidNodes).ToHashSet(StringComparer.Ordinal);
            if (avoid.Count > 0 && liveNodes.Where(n => !avoid.Contains(n.NodeId)).ToList() is { Count: > 0 } others)
            {
                liveNodes = others; // the client found these full or down before their heartbeats said so
            }

            if (liveNodes.Count == 0)
            {
                throw new DropboxException(ErrorKind.Unavailable, "No storage node is registered and alive: start a storage node (it registers itself) and try again.");
            }

            // Noted (or refused, all or none) before any token is made: a refused plan costs no signing work.
            // A put may start at the last moment its token is valid; its "stored" event and the commit come after.
            var now = _clock.GetUtcNow().UtcTicks;
            var putsUntil = now + (_options.TokenLifetime + _options.EventWait).Ticks;
            ns.Pending.AddAll(missing, now, putsUntil, _options.MaxPendingPutsPerUser);
            var locations = new Dictionary<string, ChunkLocation>(StringComparer.Ordinal);
            var puts = new Dictionary<ChunkId, List<ChunkPut>>(missing.Count);
            var unsigned = new Dictionary<string, List<ChunkPut>>(StringComparer.Ordinal);
            foreach (var id in missing)
            {
                var list = new List<ChunkPut>(Math.Max(1, _options.ReplicationFactor));
                foreach (var node in Placement.Choose(liveNodes, id, Math.Max(1, _options.ReplicationFactor)))
                {
                    if (!locations.TryGetValue(node.NodeId, out var location))
                    {
                        locations[node.NodeId] = location = ToLocation(node);
                    }

                    var put = new ChunkPut { ChunkId = id.ToByteString(), Node = location };
                    list.Add(put);
                    if (!unsigned.TryGetValue(node.NodeId, out var waiting))
                    {
                        unsigned[node.NodeId] = waiting = new List<ChunkPut>(ChunksPerSharedToken);
                    }

                    waiting.Add(put);
                    if (waiting.Count == ChunksPerSharedToken)
                    {
                        SignShared(ns.Id, node.NodeId, waiting);
                    }

                    _nodeRegistry.NotePut(node.NodeId, id, putsUntil);
                }

                puts[id] = list;
            }

            foreach (var (nodeId, waiting) in unsigned)
            {
                SignShared(ns.Id, nodeId, waiting);
            }

            for (var f = 0; f < uploads.Count; f++)
            {
                foreach (var id in missingOf[f] ?? [])
                {
                    responses[f].Missing.AddRange(puts[id]);
                }
            }
        }

        if (pending is not null)
        {
            TouchPending(pending);
        }

        return responses;
    }

    /// <summary>
    /// Chunks one put token of a <see cref="PlanMany"/> answer covers, in the order the plan lists them (a client sends
    /// them in that order, so a node checks the signature once per run of them). Signing and checking a token cost more
    /// than storing a small file's chunk; 16 ids keep a token about 1 KB (it travels with each of its puts).
    /// </summary>
    internal const int ChunksPerSharedToken = 16;

    /// <summary>Signs one put token for the chunks of <paramref name="puts"/> (all for one node), gives it to each, empties the list.</summary>
    private void SignShared(string ns, string nodeId, List<ChunkPut> puts)
    {
        if (puts.Count == 0)
        {
            return;
        }

        var ids = new ChunkId[puts.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = puts[i].ChunkId.ToChunkId();
        }

        var token = _tokens.Issue(TokenOperation.Put, ns, nodeId, ids, _options.TokenLifetime);
        foreach (var put in puts)
        {
            put.Token = token;
        }

        puts.Clear();
    }

    /// <summary>
    /// True when the namespace need not upload the chunk: it references it, or uploaded it itself and it is still
    /// stored (<paramref name="pending"/>: the latter, whose grace clock a plan restarts).
    /// </summary>
    private bool HeldBy(string ns, ChunkId id, out bool pending)
    {
        pending = false;
        var nsChunkBytes = _engine.Get(Keys.NamespaceChunk(ns, id), _engine.NamespaceChunks);
        if (nsChunkBytes is null)
        {
            return false;
        }

        var nsChunk = NamespaceChunkRecord.Parser.ParseFrom(nsChunkBytes);
        if (nsChunk.Refs > 0)
        {
            return true;
        }

        pending = HeldByUpload(nsChunk, id);
        return pending;
    }
}
