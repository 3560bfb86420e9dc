using System.Collections.Concurrent;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// <c>nodes forget</c>: a storage node that will never return leaves the registry and every chunk record drops it, so the
/// collector stops asking it to delete and re-replication no longer counts its copies. Step one (one transaction):
/// refuse while a referenced chunk has no copy on another node (unless forced), else remove the node and record its id
/// as forgotten. Step two, in bounded batches: clear its locations. A crash between them is resumed at open (the
/// forgotten record says whether step two finished), and the id can never register again, so no stale location returns.
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

    public NodeForgetter(RocksEngine engine, StoreTransactions transactions, NodeRegistry nodes, ConcurrentDictionary<string, NamespaceState> namespaces, ILogger logger)
    {
        _engine = engine;
        _transactions = transactions;
        _nodes = nodes;
        _namespaces = namespaces;
        _logger = logger;
    }

    /// <summary>Forgets <paramref name="nodeId"/> (see the class); FailedPrecondition naming the count of chunks it alone holds unless <paramref name="force"/>.</summary>
    public ForgottenNode Forget(string nodeId, bool force)
    {
        nodeId = NodeRegistry.ValidNodeId(nodeId);
        _nodes.Forget(nodeId, _ =>
        {
            // Under the write lock: no commit or report can add a sole copy between this count and the removal.
            var sole = CountSoleCopies(nodeId);
            if (sole > 0 && !force)
            {
                throw new DropboxException(ErrorKind.Conflict, $"Storage node '{nodeId}' holds the only copy of {sole} referenced chunk(s): forgetting it makes them unreadable. Bring it back (or drain it) first, or pass --force to forget it anyway.");
            }
        });

        var result = ClearLocations(nodeId);
        _nodes.ForgetDone(nodeId);
        Log.NodeForgotten(_logger, nodeId, result.LocationsCleared, result.ChunksLost);
        return result;
    }

    /// <summary>Finishes every forget a crash cut short (run at open).</summary>
    public void ResumeUnfinished()
    {
        foreach (var nodeId in _nodes.UnfinishedForgets())
        {
            ClearLocations(nodeId);
            _nodes.ForgetDone(nodeId);
        }
    }

    private long CountSoleCopies(string nodeId)
    {
        long sole = 0;
        foreach (var (_, value) in _engine.ScanAll(_engine.Chunks))
        {
            var record = ChunkRecord.Parser.ParseFrom(value);
            if (record is { State: ChunkState.Stored, Refcount: > 0 } && record.Locations.Count > 0 && record.Locations.All(n => string.Equals(n, nodeId, StringComparison.Ordinal)))
            {
                sole++;
            }
        }

        return sole;
    }

    private ForgottenNode ClearLocations(string nodeId)
    {
        var listing = new List<ChunkId>();
        foreach (var (key, value) in _engine.ScanAll(_engine.Chunks))
        {
            var record = ChunkRecord.Parser.ParseFrom(value);
            if (record.Locations.Contains(nodeId) || record.UnconfirmedLocations.Contains(nodeId) || record.DeletingLocations.Contains(nodeId))
            {
                listing.Add(new ChunkId(key));
            }
        }

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
                    var changed = held | record.UnconfirmedLocations.Remove(nodeId) | record.DeletingLocations.Remove(nodeId);
                    if (!changed)
                    {
                        continue;
                    }

                    cleared++;
                    if (held && record is { State: ChunkState.Stored, Refcount: > 0, Locations.Count: 0 })
                    {
                        lost.Add(id);
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
