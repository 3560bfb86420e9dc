using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Retention and garbage collection: prunes versions past the retention age, deletes chunks that stayed unreferenced
/// past the grace period from the nodes that hold them, and forgets stale upload marks.
/// </summary>
internal sealed partial class GarbageCollector
{
    private const int GcBatchSize = 512;
    private readonly RocksEngine _engine;
    private readonly StoreTransactions _transactions;
    private readonly NodeRegistry _nodeRegistry;
    private readonly IStorageNodeGateway _gateway;
    private readonly MetadataNodeOptions _options;
    private readonly ILogger _logger;

    private readonly AccountPurger _purger;

    /// <summary>The purge of removed accounts (also run on its own timer).</summary>
    public AccountPurger Purger => _purger;

    public GarbageCollector(RocksEngine engine, StoreTransactions transactions, NodeRegistry nodes, IStorageNodeGateway gateway, MetadataNodeOptions options, ILogger logger, AccountPurger purger)
    {
        _purger = purger;
        _engine = engine;
        _transactions = transactions;
        _nodeRegistry = nodes;
        _gateway = gateway;
        _options = options;
        _logger = logger;
    }

    private long NowMs => _options.Clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Online backups hold chunk deletions off through this (no delete reaches a node while held).</summary>
    public Backups.DeletionHold Deletions { get; } = new();

    /// <summary>
    /// One pass: prunes versions past the retention age, then deletes chunks that stayed unreferenced past
    /// the grace period. A chunk is marked DELETING under the write lock after re-checking its refcount, so
    /// a commit either references it first (and it is kept) or finds it not stored (and is refused); it is
    /// never deleted while a live version references it. Removed users' accounts are purged first: their chunks only
    /// become candidates then, and are collected after the grace like any other.
    /// A purge that fails is logged and the pass goes on.
    /// </summary>
    public async Task<GcResult> RunOnceAsync(CancellationToken cancellationToken)
    {
        // One pass at a time: a pass's deletions are taken from the records when it marks them, and a node is trusted
        // again once its deletion is done with, so a second pass still sending the same deletion could take a copy
        // trusted since (ChunkLedger.MarkStored).
        await _pass.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RunPassAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _pass.Release();
        }
    }

    private readonly SemaphoreSlim _pass = new(1, 1);

    private async Task<GcResult> RunPassAsync(CancellationToken cancellationToken)
    {
        var pruned = 0;
        try
        {
            pruned = _purger.RunOnce();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // One bad record in a removed account must not stop retention and collection for every account, every
            // pass: the purge is logged and retried (its own timer runs it too).
            Log.PurgeFailed(_logger, e);
        }

        pruned += PruneByAge();
        var attempts = new DeletionAttempts();
        var (deleted, failed, deletedBytes) = await CollectChunksAsync(owedOn: null, attempts, cancellationToken).ConfigureAwait(false);
        NoteAttempts(attempts, []);
        ForgetStaleUploads();
        if (pruned > 0 || deleted > 0)
        {
            Log.GcPass(_logger, pruned, deleted);
        }

        return new GcResult(pruned, deleted, failed, deletedBytes);
    }

    private int PruneByAge()
    {
        var now = NowMs;
        var keepMs = (long)Math.Min(_options.KeepAge.TotalMilliseconds, long.MaxValue / 2);
        var candidates = new List<(string Ns, string Path, ulong Sequence)>();
        var group = new List<PathEntry>();
        string? groupNs = null, groupPath = null;

        void Flush()
        {
            // group is ascending by sequence; the newest is current and always kept.
            for (var i = 0; i + 1 < group.Count; i++)
            {
                var supersededAt = group[i + 1].ServerTimeUnixMs;
                if (now - supersededAt > keepMs)
                {
                    candidates.Add((groupNs!, groupPath!, group[i].Version));
                }
            }

            group.Clear();
        }

        foreach (var (key, value) in _engine.ScanAll(_engine.Versions))
        {
            var (ns, path, _) = Keys.ParseVersionKey(key);
            if (ns != groupNs || path != groupPath)
            {
                Flush();
                groupNs = ns;
                groupPath = path;
            }

            group.Add(StoredFormat.ReadVersion(value));
        }

        Flush();

        var pruned = 0;
        foreach (var chunk in candidates.Chunk(GcBatchSize))
        {
            pruned += _transactions.Mutate(null, (batch, _) =>
            {
                var count = 0;
                foreach (var (ns, path, sequence) in chunk)
                {
                    var file = batch.GetFile(ns, path);
                    var bytes = _engine.Get(Keys.Version(ns, path, sequence), _engine.Versions);
                    if (file is null || bytes is null || file.Current.Version == sequence)
                    {
                        continue;
                    }

                    batch.DeleteVersion(ns, path, sequence);
                    ChunkLedger.AddReferences(batch, ns, StoredFormat.ReadVersion(bytes), -1, now);
                    file.VersionCount = Math.Max(1, file.VersionCount - 1);
                    batch.PutFile(ns, path, file);
                    count++;
                }

                return count;
            });
        }

        return pruned;
    }

    /// <summary>
    /// Drops "namespace uploaded this chunk" marks that no longer mean anything: unreferenced and older than the
    /// grace period, whatever the chunk's state (such a mark counts for nothing: OwnCopies.UploadFresh). Re-checked
    /// under the lock.
    /// </summary>
    private void ForgetStaleUploads()
    {
        var now = NowMs;
        var graceMs = (long)_options.GcGracePeriod.TotalMilliseconds;
        var stale = new List<(string Ns, ChunkId Id)>();
        foreach (var (key, value) in _engine.ScanAll(_engine.NamespaceChunks))
        {
            var record = NamespaceChunkRecord.Parser.ParseFrom(value);
            if (record.Refs == 0 && now - record.UploadedUnixMs > graceMs)
            {
                stale.Add((Keys.NamespaceOfKey(key), Keys.ChunkOfNamespaceChunkKey(key)));
            }
        }

        foreach (var slice in stale.Chunk(GcBatchSize))
        {
            _transactions.Mutate<object?>(null, (batch, _) =>
            {
                foreach (var (ns, id) in slice)
                {
                    var record = batch.GetNamespaceChunk(ns, id);
                    if (record is { Refs: 0 } && now - record.UploadedUnixMs > graceMs)
                    {
                        batch.PutNamespaceChunk(ns, id, null);
                    }
                }

                return null;
            });
        }
    }

    /// <summary>
    /// Gives up the owed deletions of a chunk referenced and with no counted copy on a live node: its copies found
    /// corrupt, on a forgotten node (lost), or only on nodes that read dead now (after a shared outage, the node coming
    /// back first). The owed nodes' bytes may be the last intact ones, or the only ones reachable; deleted, the file is
    /// damaged should the dead holder never come back. No pass sends those deletions any more (passes run one at a
    /// time) and the nodes become unconfirmed locations: a node's own answer to a commit's check (a client healing the
    /// chunk) or its "stored" event lists it again, and the copy goes with the chunk's own deletion once unreferenced
    /// (kept while the holder was only briefly dead, it is an extra copy, never a lost one). Nodes in
    /// <paramref name="deletedNow"/> (this run deleted there already) stay owed for phase 3 to record. A node a delete
    /// may still reach (<see cref="MayStillDelete"/>) stays owed too, and is not asked (<see cref="StillOwed"/>): trusted
    /// by its own answer, it would be listed as holding bytes its late delete then removes. A later run gives it up or
    /// finishes it. Under the lock; false (nothing changed) for any other record.
    /// </summary>
    private bool GaveUpOwedDeletions(RecordBatch batch, ChunkId id, ChunkRecord record, IReadOnlySet<string>? deletedNow = null, IReadOnlySet<string>? failedNow = null)
    {
        if (!OwedCopiesAtRisk(record))
        {
            return false;
        }

        var givenUp = record.DeletingLocations
            .Where(n => (deletedNow is null || !deletedNow.Contains(n)) && !MayStillDelete(n, failedNow))
            .ToList();
        if (givenUp.Count == 0)
        {
            return false;
        }

        foreach (var node in givenUp)
        {
            record.DeletingLocations.Remove(node);
            ChunkLedger.AddOnce(record.UnconfirmedLocations, node);
        }

        if (record.DeletingLocations.Count == 0)
        {
            batch.RemoveGcCandidate(id);
        }

        batch.PutChunk(id, record);
        return true;
    }

    private bool IsLive(string nodeId) => _nodeRegistry.TryGet(nodeId, out var node) && _nodeRegistry.IsLive(node);

    /// <summary>A referenced chunk with owed deletions and no counted copy on a live node: the owed copies may be its last bytes.</summary>
    private bool OwedCopiesAtRisk(ChunkRecord record) =>
        record is { State: ChunkState.Stored, Refcount: > 0, DeletingLocations.Count: > 0 } && !record.Locations.Any(IsLive);

    /// <summary>
    /// Of <paramref name="ids"/>, those <paramref name="nodeId"/> still owes, re-checked under the lock right before it
    /// is asked: phase 2 asks the nodes one after another (each call up to 30 s), and a corrupt report or a forget landing
    /// meanwhile (or while the pass waited for an online backup's hold) may have left a referenced chunk's owed copies
    /// its last intact bytes; those deletions are given up (<see cref="GaveUpOwedDeletions"/>) before any is sent. A
    /// report landing after this, while the node deletes, is not caught: the deletion is already on its way. A chunk
    /// whose owed copies are at risk but whose deletion on this node is not given up (a delete may still reach it) is not
    /// sent either: it goes to <paramref name="held"/>, for phase 3 to leave owed.
    /// </summary>
    private List<ChunkId> StillOwed(string nodeId, IEnumerable<ChunkId> ids, IReadOnlySet<string> deletedNow, IReadOnlySet<string> failedNow, ISet<(ChunkId, string)> held) =>
        _transactions.Mutate(null, (batch, _) =>
        {
            var owed = new List<ChunkId>();
            foreach (var id in ids)
            {
                if (batch.GetChunk(id) is { } record)
                {
                    GaveUpOwedDeletions(batch, id, record, deletedNow, failedNow);
                    if (!record.DeletingLocations.Contains(nodeId))
                    {
                        continue;
                    }

                    if (OwedCopiesAtRisk(record))
                    {
                        held.Add((id, nodeId));
                    }
                    else
                    {
                        owed.Add(id);
                    }
                }
            }

            return owed;
        });

    /// <summary>
    /// The collection of chunks: every candidate, or with <paramref name="owedOn"/> only those still to be deleted from
    /// one of those nodes (<see cref="FinishOwedAsync"/>), which finishes those deletions and starts none. The nodes
    /// asked, and those that failed, are added to <paramref name="attempts"/>. Call it holding <see cref="_pass"/>.
    /// </summary>
    private async Task<(int Deleted, int Failed, long Bytes)> CollectChunksAsync(IReadOnlySet<string>? owedOn, DeletionAttempts? attempts, CancellationToken cancellationToken)
    {
        var graceMs = (long)_options.GcGracePeriod.TotalMilliseconds;
        var candidates = new List<ChunkId>();
        foreach (var (key, _) in _engine.ScanAll(_engine.Gc))
        {
            var id = new ChunkId(key);
            if (owedOn is null || OwesDeletion(ChunkLedger.Read(_engine, id), owedOn))
            {
                candidates.Add(id);
            }
        }

        var deleted = 0;
        var failed = 0;
        long deletedBytes = 0;
        foreach (var slice in candidates.Chunk(GcBatchSize))
        {
            var now = NowMs;

            // Phase 1, under the lock: re-check and mark DELETING, so nothing can start referencing them. The mark is
            // fsynced before any node is asked to delete: after a power cut the metadata must not still call a chunk
            // stored that a node already dropped.
            var toDelete = _transactions.Mutate(null, (batch, _) =>
            {
                var marked = new List<(ChunkId Id, List<string> Nodes)>();

                // A run for nodes that are back asks only them: the others still owing are down, or left to the passes.
                void Mark(ChunkId id, ChunkRecord record) =>
                    marked.Add((id, record.DeletingLocations.Where(n => owedOn is null || owedOn.Contains(n)).ToList()));

                foreach (var id in slice)
                {
                    var record = batch.GetChunk(id);
                    if (record is null)
                    {
                        batch.RemoveGcCandidate(id);
                        continue;
                    }

                    if (owedOn is not null && !OwesDeletion(record, owedOn))
                    {
                        continue; // finished since the scan (a full pass): nothing of this run's
                    }

                    var due = record.Refcount == 0 && now - record.ZeroSinceUnixMs > graceMs;
                    if (record.State != ChunkState.Deleting && record.DeletingLocations.Count > 0 && (!due || owedOn is not null))
                    {
                        if (GaveUpOwedDeletions(batch, id, record))
                        {
                            continue;
                        }

                        // Stored again (or within its grace) while a deletion of its earlier copies was unfinished on a
                        // node that was down: that node's copy was never counted again (ChunkLedger.MarkStored trusts no
                        // node it still has to delete from), so finishing its deletion takes nothing anyone relies on,
                        // and after it the node may hold the content again. The chunk stays a candidate until it is done.
                        // (One due for deletion itself goes on below in a pass: its whole deletion takes those nodes
                        // along. A run for nodes that are back only finishes what they owe and starts no deletion: one
                        // marked whole here would leave its live holders owing a deletion that run does not send.)
                        Mark(id, record);
                        continue;
                    }

                    if (owedOn is not null)
                    {
                        if (record.State == ChunkState.Deleting)
                        {
                            Mark(id, record);
                        }

                        continue;
                    }

                    if (record.Refcount > 0)
                    {
                        batch.RemoveGcCandidate(id);
                        continue;
                    }

                    switch (record.State)
                    {
                        case ChunkState.Deleting:
                            Mark(id, record);
                            break;
                        case ChunkState.Deleted when now - record.ZeroSinceUnixMs > graceMs && record.UnconfirmedLocations.Count == 0:
                            // The DELETED record stays as a tombstone (a few dozen bytes, out of the chunk scans), only
                            // the candidate goes: were it forgotten, a "stored" event held up since before the deletion
                            // (a node's outbox during a long metadata outage) would find no record and be trusted, and a
                            // commit would then reference bytes that are gone. Against a tombstone such an event is not
                            // trusted: the commit asks the node, and a re-upload is verified there.
                            batch.RemoveGcCandidate(id);
                            break;
                        case ChunkState.Stored or ChunkState.Unknown or ChunkState.Deleted when now - record.ZeroSinceUnixMs > graceMs:
                            // A DELETED chunk here has unconfirmed locations: an untrusted event (a re-upload never
                            // committed, or a held-up event) says the bytes may be there; deleting them is always safe.
                            record.State = ChunkState.Deleting;
                            foreach (var node in record.Locations.Concat(record.UnconfirmedLocations))
                            {
                                ChunkLedger.AddOnce(record.DeletingLocations, node);
                            }

                            record.Locations.Clear();
                            record.UnconfirmedLocations.Clear();
                            batch.PutChunk(id, record);
                            Mark(id, record);
                            break;
                    }
                }

                return marked;
            }, sync: true);

            if (toDelete.Count == 0)
            {
                continue;
            }

            // Phase 2, outside the lock: ask the nodes, unless an online backup holds deletions (its metadata checkpoint
            // may reference a chunk unreferenced since; its storage snapshots, taken after, must still find it).
            var failedNodes = new HashSet<string>(StringComparer.Ordinal);
            var deletedNodes = new HashSet<string>(StringComparer.Ordinal);
            var held = new HashSet<(ChunkId, string)>();
            using var deleting = await Deletions.EnterDeleteAsync(cancellationToken).ConfigureAwait(false);
            foreach (var perNode in toDelete.SelectMany(d => d.Nodes.Select(n => (Node: n, d.Id))).GroupBy(x => x.Node))
            {
                if (!_nodeRegistry.TryGet(perNode.Key, out var node))
                {
                    continue;
                }

                if (node.GrpcUrl.Length == 0)
                {
                    // A restored store forgot the node's address: it may be the original's node. Retry once it registers.
                    failedNodes.Add(node.NodeId);
                    continue;
                }

                var ids = StillOwed(node.NodeId, perNode.Select(x => x.Id), deletedNodes, failedNodes, held);
                if (ids.Count == 0)
                {
                    continue;
                }

                try
                {
                    await _gateway.DeleteChunksAsync(node, ids, cancellationToken).ConfigureAwait(false);
                    deletedNodes.Add(node.NodeId);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.NodeUnreachable(_logger, node.NodeId, ex);
                    failedNodes.Add(node.NodeId);
                    NoteDeleteFailed(node.NodeId);
                }
            }

            // A held node is tried again after a back-off, like a failed one: by then its deletion is given up or sent.
            attempts?.Failed.UnionWith(failedNodes.Concat(held.Select(x => x.Item2)));
            attempts?.Deleted.UnionWith(deletedNodes);

            // Phase 3, under the lock: what every node deleted is DELETED (its metadata goes after another grace).
            var doneNow = NowMs;
            var (ok, bad, bytes) = _transactions.Mutate(null, (batch, _) =>
            {
                int done = 0, notDone = 0;
                long doneBytes = 0;
                var anyNodeDone = false;
                foreach (var (id, nodes) in toDelete)
                {
                    var record = batch.GetChunk(id);
                    if (record is null)
                    {
                        continue;
                    }

                    // Each node that deleted is done with, whatever the others did: a node that was down keeps only its
                    // own deletion pending, and a node that finished may be trusted with the content again.
                    var removed = false;
                    foreach (var node in nodes.Where(n => !failedNodes.Contains(n) && !held.Contains((id, n))))
                    {
                        if (record.DeletingLocations.Remove(node))
                        {
                            removed = true;
                            ChunkLedger.AddOnce(record.DeletedFrom, node);
                        }
                    }

                    anyNodeDone |= removed;
                    if (nodes.Any(failedNodes.Contains))
                    {
                        notDone++;
                    }

                    if (record is { State: ChunkState.Deleting, DeletingLocations.Count: 0 })
                    {
                        record.State = ChunkState.Deleted;
                        record.ZeroSinceUnixMs = doneNow;
                        batch.PutChunk(id, record);
                        done++;
                        doneBytes += record.StoredSize;
                    }
                    else if (removed)
                    {
                        if (record is { State: not ChunkState.Deleting, Refcount: > 0, DeletingLocations.Count: 0 })
                        {
                            batch.RemoveGcCandidate(id);
                        }

                        batch.PutChunk(id, record);
                    }
                }

                if (done > 0 || anyNodeDone)
                {
                    // A commit that asked the nodes before this may have been told of bytes just deleted.
                    _transactions.NoteChunkDeletions();
                }

                return (done, notDone, doneBytes);
            });
            deleted += ok;
            failed += bad;
            deletedBytes += bytes;
        }

        return (deleted, failed, deletedBytes);
    }
}
