using System.Collections.Concurrent;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tokens;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Upload plans: which chunks an account must send (only those it neither references nor uploaded itself, so whether
/// another account holds a hash never shows), a node for each by placement, and put tokens; the puts are noted as
/// outstanding (bounded per account) before any token is signed. Reads only, but for the grace clock of chunks it
/// tells a client it need not send. Commits are <see cref="UploadCommit"/>'s.
/// </summary>
internal sealed partial class UploadPlanner
{
    private readonly RocksEngine _engine;
    private readonly StoreTransactions _transactions;
    private readonly ConcurrentDictionary<string, NamespaceState> _namespaces;
    private readonly NodeRegistry _nodeRegistry;
    private readonly ChunkTokenService _tokens;
    private readonly MetadataNodeOptions _options;
    private readonly TimeProvider _clock;

    public UploadPlanner(
        RocksEngine engine,
        StoreTransactions transactions,
        ConcurrentDictionary<string, NamespaceState> namespaces,
        NodeRegistry nodes,
        ChunkTokenService tokens,
        MetadataNodeOptions options)
    {
        _engine = engine;
        _transactions = transactions;
        _namespaces = namespaces;
        _nodeRegistry = nodes;
        _tokens = tokens;
        _options = options;
        _clock = options.Clock;
    }

    private long NowMs => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    private NamespaceState Namespace(UserInfo user) => UploadCommit.Namespace(_namespaces, user);

    /// <summary>
    /// The chunks this namespace must upload, a node and a put token for each. A chunk counts as held only
    /// if this namespace references it or uploaded it itself (and it is still stored): whether another
    /// namespace holds a hash is never revealed.
    /// </summary>
    public UploadPlan PlanUpload(UserInfo user, FileUpload upload)
    {
        var ns = Namespace(user);
        var (currentVersion, conflict) = JudgeAgainstCurrent(ns, upload);
        return new UploadPlan(currentVersion, conflict, PlanMissing(ns, upload.Path, upload.Chunks, upload.AvoidNodes));
    }

    /// <summary>
    /// The current version of the file now at the upload's path (0 when none) and whether the upload's base is stale
    /// against it; refuses (RESOURCE_EXHAUSTED) an upload that would take the account over its quota.
    /// </summary>
    private (ulong CurrentVersion, bool Conflict) JudgeAgainstCurrent(NamespaceState ns, FileUpload upload)
    {
        var fileBytes = _engine.Get(Keys.File(ns.Id, upload.Path), _engine.Files);
        ulong currentVersion = 0;
        var conflict = false;
        ulong currentSize = 0;
        if (fileBytes is not null)
        {
            var current = StoredFormat.ReadFile(fileBytes).Current;
            if (NamespaceFiles.IsLive(current))
            {
                currentVersion = current.Version;
                conflict = upload.BaseVersion != current.Version && !UploadCommit.SameContent(current, upload);
                currentSize = NamespaceFiles.IsLiveFile(current) ? current.Size : 0;
            }
        }

        UploadCommit.EnsureWithinQuota(ns.Record, upload.Path, upload.Size, currentSize);
        return (currentVersion, conflict);
    }

    /// <summary>
    /// Plans one window of a large file's chunks while the client still reads it (the one-read upload): the same
    /// answer, pending-put bound and tokens as <see cref="PlanUpload"/> gives for these chunks. The conflict flag is
    /// set only when a commit is certain to be refused (a stale base and a current version of another size, so not the
    /// same content); anything else is left to the commit, which judges the whole chunk list.
    /// </summary>
    public UploadPlan PlanChunks(UserInfo user, ChunkWindow window)
    {
        var ns = Namespace(user);
        var fileBytes = _engine.Get(Keys.File(ns.Id, window.Path), _engine.Files);
        ulong currentVersion = 0;
        var conflict = false;
        ulong currentSize = 0;
        if (fileBytes is not null)
        {
            var current = StoredFormat.ReadFile(fileBytes).Current;
            if (NamespaceFiles.IsLive(current))
            {
                currentVersion = current.Version;
                conflict = window.BaseVersion != current.Version && (current.Kind != PathKind.File || current.Size != window.Size);
                currentSize = NamespaceFiles.IsLiveFile(current) ? current.Size : 0;
            }
        }

        UploadCommit.EnsureWithinQuota(ns.Record, window.Path, window.Size, currentSize);
        return new UploadPlan(currentVersion, conflict, PlanMissing(ns, window.Path, window.Chunks, window.AvoidNodes));
    }

    /// <summary>
    /// A put (node and token) for each copy this namespace must upload. A chunk counts as held only if this namespace
    /// references it, or put it itself and its own copies cover the target (<see cref="Wanted"/>).
    /// </summary>
    private List<PlannedPut> PlanMissing(NamespaceState ns, string path, IReadOnlyList<ChunkRef> chunks, IReadOnlyList<string> avoidNodes)
    {
        var puts = new List<PlannedPut>();
        List<ChunkId>? pending = null;
        var missing = new List<ChunkId>();
        Dictionary<ChunkId, MoreCopies>? more = null;
        PlanNodes? nodes = null;
        var seen = new HashSet<ChunkId>(chunks.Count);
        foreach (var chunk in chunks)
        {
            if (!seen.Add(chunk.Id))
            {
                continue;
            }

            var wanted = Wanted(ns.Id, chunk.Id, avoidNodes, ref nodes, out var counted);
            if (counted is not null)
            {
                (pending ??= []).Add(chunk.Id);
            }

            if (wanted == 0)
            {
                continue;
            }

            missing.Add(chunk.Id);
            if (counted is not null)
            {
                (more ??= [])[chunk.Id] = new MoreCopies(wanted, counted);
            }
        }

        if (missing.Count > 0)
        {
            nodes ??= PlanNodes.Read(_nodeRegistry, avoidNodes, _options.ReplicationFactor);
            var liveNodes = nodes.Eligible;
            if (liveNodes.Count == 0)
            {
                throw new DropboxException(ErrorKind.Unavailable, "No storage node is registered and alive: start a storage node (it registers itself) and try again.");
            }

            // One answer carries every put: refused, before anything is noted or signed, when they would not fit it.
            var copies = nodes.Target;
            if ((long)missing.Count * copies > Limits.MaxPutsPerPlan)
            {
                throw Limits.TooManyPuts(path, missing.Count, copies);
            }

            // Noted (or refused, all or none) before any token is made: a refused plan costs no signing work.
            // A put may start at the last moment its token is valid; its "stored" event and the commit come after.
            var now = _clock.GetUtcNow().UtcTicks;
            var putsUntil = now + (_options.TokenLifetime + _options.EventWait).Ticks;
            ns.Pending.AddAll(missing, now, putsUntil, _options.MaxPendingPutsPerUser);
            var addresses = Addresses(liveNodes);
            foreach (var id in missing)
            {
                foreach (var node in Place(nodes, id, more))
                {
                    puts.Add(new PlannedPut(id, addresses[node.NodeId], _tokens.Issue(TokenOperation.Put, ns.Id, node.NodeId, [id], _options.TokenLifetime)));
                    _nodeRegistry.NotePut(node.NodeId, id, putsUntil);
                }
            }
        }

        if (pending is not null)
        {
            TouchPending(pending);
        }

        return puts;
    }

    /// <summary>The address of each node a plan may place chunks on, by id (one object per node, shared by its puts).</summary>
    private static Dictionary<string, NodeAddress> Addresses(List<StorageNodeInfo> nodes)
    {
        var addresses = new Dictionary<string, NodeAddress>(nodes.Count, StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            addresses[node.NodeId] = NodeAddress.Of(node);
        }

        return addresses;
    }

    /// <summary>
    /// Plans several files at once, each answered exactly as <see cref="PlanUpload"/> would answer it alone. A chunk
    /// named by several files is judged, noted and signed once (every file that misses it gets the same put); one put token covers up to
    /// <see cref="ChunksPerSharedToken"/> chunks for one node. The
    /// puts of the whole call are noted against <see cref="Limits.MaxPendingPutsPerUser"/> all or none, before any
    /// token is signed: a refused call costs no signing work and notes nothing. Each file is held to the account's
    /// quota as PlanUpload holds it; one file over it refuses the whole call (RESOURCE_EXHAUSTED naming the quota).
    /// </summary>
    public UploadPlan[] PlanMany(UserInfo user, IReadOnlyList<FileUpload> uploads)
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
        var judgements = new (ulong CurrentVersion, bool Conflict)[uploads.Count];
        var missingOf = new List<ChunkId>?[uploads.Count];
        var judged = new Dictionary<ChunkId, bool>((int)Math.Min(total, 1 << 16));
        var missing = new List<ChunkId>();
        List<ChunkId>? pending = null;
        Dictionary<ChunkId, MoreCopies>? more = null;
        PlanNodes? nodes = null;
        var avoidNodes = uploads.SelectMany(u => u.AvoidNodes);
        for (var f = 0; f < uploads.Count; f++)
        {
            var upload = uploads[f];
            // Each file is judged alone, as PlanUpload judges it: one over the quota refuses the whole call before
            // anything is noted or signed (the client then plans the group's files one by one).
            judgements[f] = JudgeAgainstCurrent(ns, upload);

            var seen = upload.Chunks.Count > 1 ? new HashSet<ChunkId>(upload.Chunks.Count) : null;
            foreach (var chunk in upload.Chunks)
            {
                if (seen is not null && !seen.Add(chunk.Id))
                {
                    continue;
                }

                if (!judged.TryGetValue(chunk.Id, out var isMissing))
                {
                    var wanted = Wanted(ns.Id, chunk.Id, avoidNodes, ref nodes, out var counted);
                    isMissing = wanted > 0;
                    judged[chunk.Id] = isMissing;
                    if (counted is not null)
                    {
                        (pending ??= []).Add(chunk.Id);
                    }

                    if (isMissing)
                    {
                        missing.Add(chunk.Id);
                        if (counted is not null)
                        {
                            (more ??= [])[chunk.Id] = new MoreCopies(wanted, counted);
                        }
                    }
                }

                if (isMissing)
                {
                    (missingOf[f] ??= []).Add(chunk.Id);
                }
            }
        }

        Dictionary<ChunkId, PlannedPut[]>? puts = null;
        if (missing.Count > 0)
        {
            nodes ??= PlanNodes.Read(_nodeRegistry, avoidNodes, _options.ReplicationFactor);
            var liveNodes = nodes.Eligible;
            if (liveNodes.Count == 0)
            {
                throw new DropboxException(ErrorKind.Unavailable, "No storage node is registered and alive: start a storage node (it registers itself) and try again.");
            }

            // Noted (or refused, all or none) before any token is made: a refused plan costs no signing work.
            // A put may start at the last moment its token is valid; its "stored" event and the commit come after.
            var now = _clock.GetUtcNow().UtcTicks;
            var putsUntil = now + (_options.TokenLifetime + _options.EventWait).Ticks;
            ns.Pending.AddAll(missing, now, putsUntil, _options.MaxPendingPutsPerUser);
            var addresses = Addresses(liveNodes);
            puts = new Dictionary<ChunkId, PlannedPut[]>(missing.Count);
            var unsigned = new Dictionary<string, List<UnsignedPut>>(StringComparer.Ordinal);
            foreach (var id in missing)
            {
                var placed = Place(nodes, id, more);
                var replicas = puts[id] = new PlannedPut[placed.Count]; // filled as their tokens are signed
                for (var r = 0; r < placed.Count; r++)
                {
                    var node = addresses[placed[r].NodeId];
                    if (!unsigned.TryGetValue(node.NodeId, out var waiting))
                    {
                        unsigned[node.NodeId] = waiting = new List<UnsignedPut>(ChunksPerSharedToken);
                    }

                    waiting.Add(new UnsignedPut(id, replicas, r));
                    if (waiting.Count == ChunksPerSharedToken)
                    {
                        SignShared(ns.Id, node, waiting);
                    }

                    _nodeRegistry.NotePut(node.NodeId, id, putsUntil);
                }
            }

            foreach (var (nodeId, waiting) in unsigned)
            {
                SignShared(ns.Id, addresses[nodeId], waiting);
            }
        }

        if (pending is not null)
        {
            TouchPending(pending);
        }

        var plans = new UploadPlan[uploads.Count];
        for (var f = 0; f < uploads.Count; f++)
        {
            var mine = new List<PlannedPut>();
            foreach (var id in missingOf[f] ?? [])
            {
                mine.AddRange(puts![id]);
            }

            plans[f] = new UploadPlan(judgements[f].CurrentVersion, judgements[f].Conflict, mine);
        }

        return plans;
    }

    /// <summary>A put of <see cref="PlanMany"/> waiting for its shared token: replica <paramref name="Slot"/> of the chunk's <paramref name="Replicas"/>.</summary>
    private readonly record struct UnsignedPut(ChunkId ChunkId, PlannedPut[] Replicas, int Slot);

    /// <summary>
    /// Chunks one put token of a <see cref="PlanMany"/> answer covers, in the order the plan lists them (a client sends
    /// them in that order, so a node checks the signature once per run of them). Signing and checking a token cost more
    /// than storing a small file's chunk; 16 ids keep a token about 1 KB (it travels with each of its puts).
    /// </summary>
    internal const int ChunksPerSharedToken = 16;

    /// <summary>Signs one put token for the chunks of <paramref name="puts"/> (all for <paramref name="node"/>), makes their puts with it, empties the list.</summary>
    private void SignShared(string ns, NodeAddress node, List<UnsignedPut> puts)
    {
        if (puts.Count == 0)
        {
            return;
        }

        var ids = new ChunkId[puts.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = puts[i].ChunkId;
        }

        var token = _tokens.Issue(TokenOperation.Put, ns, node.NodeId, ids, _options.TokenLifetime);
        foreach (var put in puts)
        {
            put.Replicas[put.Slot] = new PlannedPut(put.ChunkId, node, token);
        }

        puts.Clear();
    }

    /// <summary>
    /// How many copies of the chunk this namespace's plan asks for (0: none) and, in <paramref name="counted"/>, the nodes
    /// of its own copies that count toward the target (null: none; the plan restarts their grace clock, whether they
    /// cover the target or only part of it, so the collector keeps the copies it counted while the rest are put). None
    /// when the namespace references the chunk (and a copy a commit would count is left). For a chunk it put and has not
    /// committed: held as far as the copies on the nodes whose "stored" events named its own puts cover the target
    /// (<see cref="PlanNodes.Target"/>), counting only nodes a put could be placed on now and the client does not avoid;
    /// the copies they lack are asked for, on other nodes. A put that landed on one node only (the puts of its other
    /// replicas cut off when that node was killed) is so asked for again before the node is declared dead, and no copy
    /// another account put is ever counted. Otherwise (never put, the mark older than the grace, a mark from before put
    /// nodes were recorded, or no node a put could go to) every copy is asked for.
    /// </summary>
    private int Wanted(string ns, ChunkId id, IEnumerable<string> avoidNodes, ref PlanNodes? nodes, out List<string>? counted)
    {
        counted = null;
        var all = Math.Max(1, _options.ReplicationFactor);
        var markBytes = _engine.Get(Keys.NamespaceChunk(ns, id), _engine.NamespaceChunks);
        if (markBytes is null)
        {
            return all;
        }

        var mark = NamespaceChunkRecord.Parser.ParseFrom(markBytes);
        if (mark.Refs > 0 && !IsLost(id))
        {
            return 0;
        }

        if (mark.UploadedOn.Count == 0 || !OwnCopies.UploadFresh(mark, NowMs, _options.GcGracePeriod))
        {
            return all;
        }

        nodes ??= PlanNodes.Read(_nodeRegistry, avoidNodes, _options.ReplicationFactor);
        if (nodes.Target == 0)
        {
            // No node is live to take a put, so none of the account's copies is on a live node: never "held" (its only
            // copy may be on a node that never comes back). Asked for, the plan is refused as unavailable, as it is for
            // a chunk nobody put; and the answer reads nothing of the chunk's record, whose state (a tombstone someone
            // else's deletion left) would tell of other accounts.
            return all;
        }

        counted = OwnCopies.Counted(ChunkLedger.Read(_engine, id), mark, nodes.Counts);
        var lacking = nodes.Target - (counted?.Count ?? 0);
        return lacking <= 0 ? 0 : counted is null ? all : lacking;
    }

    /// <summary>A chunk of which the account's own copies on <paramref name="Counted"/> cover part of the target: <paramref name="Copies"/> more are asked for.</summary>
    private readonly record struct MoreCopies(int Copies, List<string> Counted);

    /// <summary>The nodes of a missing chunk's puts: every copy by placement, or the copies it lacks on nodes other than its own counted ones.</summary>
    private static List<StorageNodeInfo> Place(PlanNodes nodes, ChunkId id, Dictionary<ChunkId, MoreCopies>? more) =>
        more is not null && more.TryGetValue(id, out var lacking) ? nodes.Choose(id, lacking.Copies, lacking.Counted) : nodes.Choose(id);

    /// <summary>
    /// A chunk the namespace references that no copy a commit would count is left of: every holder found it corrupt, or
    /// its copies are only on nodes being forgotten. A plan asks for it again, so a device that still has the bytes
    /// heals every version naming it (the put records a holder again), and the plan never answers "held" for a chunk
    /// the commit would then refuse as missing.
    /// </summary>
    private bool IsLost(ChunkId id) => !ChunkLedger.IsStored(ChunkLedger.Read(_engine, id), _nodeRegistry.MayHoldNewCopies);

    /// <summary>
    /// Restarts the grace clock of pending (uploaded, not yet committed) chunks whose own copies a plan counted: all of
    /// them held, or some, the plan asking only for the copies they lack (not restarted, the collector could take a
    /// counted copy while the others are put, and the commit go through with fewer copies than the plan meant).
    /// </summary>
    private void TouchPending(List<ChunkId> ids)
    {
        var now = NowMs;
        _transactions.Mutate<object?>(null, (batch, _) =>
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
}
