using System.Collections.Concurrent;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// <c>nodes forget</c>: a storage node that will never return leaves the registry and every chunk record drops it, so the
/// collector stops asking it to delete and re-replication no longer counts its copies. First the node is marked as being
/// forgotten (under the write lock: from then on no report or commit records a copy on it, and nothing is placed there),
/// then the chunk records are scanned outside every lock for the chunks it may hold the last copy of. Step one (one
/// transaction under the write lock) reads only those again and refuses while a referenced one has no copy on another
/// live, non-draining node (unless forced), else removes the node and records its id as forgotten. Step two, in bounded
/// batches: clear its locations. A crash between them is resumed at open (the forgotten record says whether step two
/// finished), and the id can never register again, so no stale location returns.
/// </summary>
internal sealed class NodeForgetter
{
    /// <summary>Most lost chunks and file versions named in a result.</summary>
    public const int MaxListed = 100;

    private const int BatchSize = 512;
    private readonly RocksEngine _engine;
    private readonly StoreTransactions _transactions;
    private readonly NodeRegistry _nodes;
    private readonly ConcurrentDictionary<string, NamespaceState> _namespaces;
    private readonly ILogger _logger;
    private readonly MetadataNodeOptions _options;

    public NodeForgetter(RocksEngine engine, StoreTransactions transactions, NodeRegistry nodes, ConcurrentDictionary<string, NamespaceState> namespaces, MetadataNodeOptions options, ILogger logger)
    {
        _options = options;
        _engine = engine;
        _transactions = transactions;
        _nodes = nodes;
        _namespaces = namespaces;
        _logger = logger;
    }

    /// <summary>
    /// Forgets <paramref name="nodeId"/> (see the class); FailedPrecondition naming the count of chunks it alone holds
    /// unless <paramref name="force"/>. A node that still heartbeats and is not draining is refused unless
    /// <paramref name="live"/>: the verb is for a node that will never return, and a typo would retire a running node.
    /// </summary>
    public ForgottenNode Forget(string nodeId, bool force, bool live)
    {
        nodeId = NodeRegistry.ValidNodeId(nodeId);
        if (!live && !_nodes.IsForgotten(nodeId) && _nodes.TryGet(nodeId, out var node) && _nodes.IsLive(node) && !node.Draining)
        {
            if (_nodes.LivenessAsOfMs is { } asOf)
            {
                throw new DropboxException(ErrorKind.Conflict, $"Storage node '{nodeId}' was running when this metadata node stopped (its last heartbeat, {DateTimeOffset.FromUnixTimeMilliseconds(node.LastHeartbeatUnixMs):u}, is within --node-dead-after {_options.NodeTimeout.TotalSeconds:0} s (as given, or the offline default, which is not the value the metadata node ran with) of the newest one recorded, {DateTimeOffset.FromUnixTimeMilliseconds(asOf):u}). Offline, 'nodes forget' cannot see whether it runs now: check the node id; if that node is gone for good pass --live (a forgotten node stops for good and must be wiped), or start the metadata node and drain it first.");
            }

            throw new DropboxException(ErrorKind.Conflict, $"Storage node '{nodeId}' is running (it heartbeated within the node timeout): 'nodes forget' is for a node that will never return, and a forgotten node stops for good and must be wiped. Check the node id; stop the node or drain it ('nodes drain {nodeId}') first, or pass --live to forget it while it runs.");
        }

        if (_nodes.BeginForget(nodeId))
        {
            try
            {
                ForgetCounted(nodeId, force);
            }
            catch
            {
                _nodes.CancelForget(nodeId);
                throw;
            }
        }

        var result = ClearLocations(nodeId);
        _nodes.ForgetDone(nodeId);
        Log.NodeForgotten(_logger, nodeId, result.LocationsCleared, result.ChunksLost);
        return result;
    }

    /// <summary>
    /// Scans for the chunks the node may hold the last copy of and takes it out of the registry once they are counted
    /// again under the write lock. A corrupt report that removed a holder while the scan ran (a copy node's scrub
    /// quarantined a chunk the scan had seen on it) may have made a non-candidate a sole copy: the chunks such reports
    /// named that still list the node are recorded from before the scan and read again under the lock too.
    /// </summary>
    private void ForgetCounted(string nodeId, bool force)
    {
        AfterBegin?.Invoke();

        // Taken under the write lock: a report whose body ran before is committed, so the scan's snapshot sees it, and
        // every later one records its chunks here.
        using var watch = _transactions.WatchCorruptReports(nodeId);

        // From here the node gets no new copy, so this scan (outside every lock: a large store takes a while, and
        // commits, reports and heartbeats go on meanwhile) sees every chunk it may be the last holder of.
        var (candidates, copyNodes) = ScanCandidates(nodeId);
        if (!force)
        {
            // Outside the lock first: a node holding the only copy of many referenced chunks (one replica per chunk)
            // is refused without holding every writer off while its candidates are read.
            var (soleNow, unsafeNow, unreferenced) = SoleCopies(ReadCommitted, nodeId, candidates, copyNodes);
            if (soleNow > 0)
            {
                throw Refusal(nodeId, soleNow, unsafeNow);
            }

            candidates = unreferenced;
        }

        BeforeCheck?.Invoke();
        ForgetChecked(nodeId, force, watch, candidates, copyNodes);
    }

    private void ForgetChecked(string nodeId, bool force, CorruptReportWatch watch, List<ChunkId> candidates, HashSet<string> copyNodes)
    {
        _nodes.Forget(nodeId, batch =>
        {
            // Under the write lock. A node that counted as a second copy must still count.
            var now = CopyNodes(nodeId);
            if (!copyNodes.IsSubsetOf(now))
            {
                throw new DropboxException(ErrorKind.Unavailable, $"Storage node(s) {string.Join(", ", copyNodes.Except(now).Order(StringComparer.Ordinal))} stopped answering or began draining while the forget of '{nodeId}' counted copies; run it again.");
            }

            if (force)
            {
                return; // whatever it alone holds is lost anyway, and counted as it is cleared
            }

            // Read again: the candidates unreferenced at the check above (a commit may have referenced one since: a
            // referenced one there refused), and the chunks a corrupt report removed another holder of since the scan
            // began (it may have removed the copy that kept one out of the candidates). Each is a point read.
            var reread = watch.Ids.Count == 0 ? candidates : candidates.Union(watch.Ids).ToList();
            var (sole, unsafeCopies, _) = SoleCopies(id => { Interlocked.Increment(ref _readUnderLock); return batch.GetChunk(id); }, nodeId, reread, now);
            if (sole > 0)
            {
                throw Refusal(nodeId, sole, unsafeCopies);
            }
        });
    }

    private ChunkRecord? ReadCommitted(ChunkId id) => ChunkLedger.Read(_engine, id);

    /// <summary>Tests: chunk records the lock-time check read (under the write lock) since start.</summary>
    internal long ReadUnderLock => Interlocked.Read(ref _readUnderLock);

    private long _readUnderLock;

    /// <summary>Tests: runs once the node is marked being forgotten, before the forget starts watching corrupt reports and scans.</summary>
    internal Action? AfterBegin { get; set; }

    /// <summary>Tests: runs after the scan, before the count under the write lock.</summary>
    internal Action? BeforeCheck { get; set; }

    /// <summary>Finishes every forget a crash cut short (run at open).</summary>
    public void ResumeUnfinished()
    {
        foreach (var nodeId in _nodes.UnfinishedForgets())
        {
            ClearLocations(nodeId);
            _nodes.ForgetDone(nodeId);
        }
    }

    /// <summary>Tests: runs as the forget starts its scan of the chunk records.</summary>
    internal Action? WhileScanning { get; set; }

    /// <summary>Tests: runs once the chunks naming the node are listed, before their records drop it.</summary>
    internal Action? AfterListing { get; set; }

    /// <summary>Most chunk ids a refusal names.</summary>
    private const int MaxNamedInRefusal = 10;

    /// <summary>
    /// Nodes whose copies count as a second copy: registered, live and not draining (a draining node's copies are on
    /// their way out, a dead one's may never come back), other than the node being forgotten.
    /// </summary>
    private HashSet<string> CopyNodes(string nodeId) =>
        _nodes.LiveNodes().Where(n => !n.Draining && !string.Equals(n.NodeId, nodeId, StringComparison.Ordinal) && !_nodes.IsBeingForgotten(n.NodeId)).Select(n => n.NodeId).ToHashSet(StringComparer.Ordinal);

    /// <summary>Chunks the node holds with no copy on a <see cref="CopyNodes">copy node</see>, whatever their count (a commit may reference one before the lock).</summary>
    private (List<ChunkId> Candidates, HashSet<string> CopyNodes) ScanCandidates(string nodeId)
    {
        var copyNodes = CopyNodes(nodeId);
        WhileScanning?.Invoke();
        var candidates = new List<ChunkId>();
        foreach (var (key, value) in _engine.ScanAll(_engine.Chunks))
        {
            var record = ChunkRecord.Parser.ParseFrom(value);
            if (record.Locations.Contains(nodeId) && !record.Locations.Any(copyNodes.Contains))
            {
                candidates.Add(new ChunkId(key));
            }
        }

        return (candidates, copyNodes);
    }

    /// <summary>
    /// Of the candidates, the referenced chunks left with no copy on a copy node, those of them with a copy on some other
    /// listed node (draining, dead), and the candidates that are not referenced (still held only there).
    /// </summary>
    private static (long Sole, List<ChunkId> UnsafeCopies, List<ChunkId> Unreferenced) SoleCopies(Func<ChunkId, ChunkRecord?> read, string nodeId, List<ChunkId> candidates, HashSet<string> copyNodes)
    {
        long sole = 0;
        var unsafeCopies = new List<ChunkId>();
        var unreferenced = new List<ChunkId>();
        foreach (var id in candidates)
        {
            var record = read(id);
            if (record is null || !record.Locations.Contains(nodeId) || record.Locations.Any(copyNodes.Contains))
            {
                continue;
            }

            if (record is { State: ChunkState.Stored, Refcount: > 0 })
            {
                sole++;
                if (record.Locations.Count > 1)
                {
                    unsafeCopies.Add(id);
                }
            }
            else
            {
                unreferenced.Add(id);
            }
        }

        return (sole, unsafeCopies, unreferenced);
    }

    private static DropboxException Refusal(string nodeId, long sole, List<ChunkId> unsafeCopies)
    {
        var message = $"Storage node '{nodeId}' holds the only copy of {sole} referenced chunk(s) (no other live, non-draining node has one): forgetting it makes them unreadable.";
        if (unsafeCopies.Count > 0)
        {
            var named = string.Join(", ", unsafeCopies.Take(MaxNamedInRefusal));
            var more = unsafeCopies.Count > MaxNamedInRefusal ? $" and {unsafeCopies.Count - MaxNamedInRefusal} more" : "";
            message += $" Of these, {unsafeCopies.Count} have their other copies only on draining or unreachable nodes: {named}{more}.";
        }

        return new DropboxException(ErrorKind.Conflict, message + " Bring it back (or drain it) first, or pass --force to forget it anyway.");
    }

    private ForgottenNode ClearLocations(string nodeId)
    {
        var listing = new List<ChunkId>();
        foreach (var (key, value) in _engine.ScanAll(_engine.Chunks))
        {
            var record = ChunkRecord.Parser.ParseFrom(value);
            if (record.Locations.Contains(nodeId) || record.UnconfirmedLocations.Contains(nodeId) || record.DeletingLocations.Contains(nodeId) || record.DeletedFrom.Contains(nodeId))
            {
                listing.Add(new ChunkId(key));
            }
        }

        AfterListing?.Invoke();
        long cleared = 0;
        var lost = new List<ChunkId>();
        foreach (var slice in listing.Chunk(BatchSize))
        {
            _transactions.Mutate<object?>(null, (batch, _) =>
            {
                foreach (var id in slice)
                {
                    var record = batch.GetChunk(id);
                    if (record is null)
                    {
                        continue;
                    }

                    var held = record.Locations.Remove(nodeId);
                    var changed = held | record.UnconfirmedLocations.Remove(nodeId) | record.DeletingLocations.Remove(nodeId) | record.DeletedFrom.Remove(nodeId);
                    if (!changed)
                    {
                        continue;
                    }

                    cleared++;
                    if (held && record is { State: ChunkState.Stored, Refcount: > 0, Locations.Count: 0 })
                    {
                        lost.Add(id);
                        record.LostWithNode = nodeId; // the check names the loss rather than reporting it as an inconsistency
                    }

                    batch.PutChunk(id, record);
                }

                return null;
            }, sync: true);
        }

        var (files, truncatedFiles) = FilesNaming(lost);
        return new ForgottenNode(nodeId, cleared, lost.Count, lost.Take(MaxListed).ToList(), files, lost.Count > MaxListed || truncatedFiles);
    }

    private (List<LostFileVersion> Files, bool Truncated) FilesNaming(List<ChunkId> lost)
    {
        var files = new List<LostFileVersion>();
        if (lost.Count == 0)
        {
            return (files, false);
        }

        var wanted = lost.ToHashSet();
        foreach (var (key, value) in _engine.ScanAll(_engine.Versions))
        {
            var entry = StoredFormat.ReadVersion(value);
            if (entry.Chunks.Any(c => wanted.Contains(c.Id)))
            {
                if (files.Count == MaxListed)
                {
                    return (files, true);
                }

                var (ns, path, version) = Keys.ParseVersionKey(key);
                var owner = _namespaces.TryGetValue(ns, out var state) ? state.Record.Owner : ns;
                files.Add(new LostFileVersion(owner, path, version));
            }
        }

        return (files, false);
    }
}
