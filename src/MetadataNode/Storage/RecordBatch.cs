using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.MetadataNode.Domain;
using Google.Protobuf;
using RocksDbSharp;

namespace Dropbox.MetadataNode.Storage;

/// <summary>
/// One atomic change being assembled: reads see the batch's own pending writes (an overlay; the one exception is
/// <see cref="VisitCommittedFiles"/>, which sees only what is committed), and
/// <see cref="Commit"/> applies everything in a single RocksDB write batch, so a crash leaves either all
/// of it or none. Not thread-safe: the store builds batches under its write lock.
/// </summary>
internal sealed class RecordBatch : IDisposable
{
    private readonly RocksEngine _engine;
    private readonly WriteBatch _batch = new();
    private readonly Dictionary<ChunkId, ChunkRecord?> _chunks = [];
    private readonly Dictionary<(string Ns, ChunkId Id), NamespaceChunkRecord?> _namespaceChunks = [];
    private readonly Dictionary<(string Ns, string Path), FileRecord?> _files = [];
    private readonly Dictionary<string, NamespaceRecord> _namespaces = new(StringComparer.Ordinal);

    public RecordBatch(RocksEngine engine) => _engine = engine;

    /// <summary>True once anything was written to the batch.</summary>
    public bool IsEmpty => _batch.Count() == 0 && _gcCandidates.Count == 0 && _chunks.Count == 0 && _namespaceChunks.Count == 0 && _files.Count == 0 && _namespaces.Count == 0;

    public ChunkRecord? GetChunk(ChunkId id)
    {
        if (_chunks.TryGetValue(id, out var pending))
        {
            return pending;
        }

        var record = ReadChunk(_engine, id);
        if (record is not null && IsTombstone(record))
        {
            _readAsTombstone.Add(id);
        }

        _chunks[id] = record;
        return record;
    }

    /// <summary>The committed record of a chunk (a tombstone included), or null.</summary>
    public static ChunkRecord? ReadChunk(RocksEngine engine, ChunkId id)
    {
        var bytes = engine.Get(Keys.Chunk(id), engine.Chunks) ?? engine.Get(Keys.ChunkTombstone(id), engine.Meta);
        return bytes is null ? null : ChunkRecord.Parser.ParseFrom(bytes);
    }

    /// <summary>A deleted chunk nothing references and no node may hold: kept only to distrust held-up "stored" events.</summary>
    public static bool IsTombstone(ChunkRecord record) =>
        record is { State: ChunkState.Deleted, Refcount: 0, Locations.Count: 0, DeletingLocations.Count: 0, UnconfirmedLocations.Count: 0 };

    /// <summary>Stages a chunk record (null deletes it). The record is written at commit.</summary>
    public void PutChunk(ChunkId id, ChunkRecord? record)
    {
        _chunks[id] = record;
        _dirtyChunks.Add(id);
    }

    private readonly HashSet<ChunkId> _dirtyChunks = [];
    private readonly HashSet<ChunkId> _readAsTombstone = [];
    private readonly HashSet<(string, ChunkId)> _dirtyNamespaceChunks = [];
    private readonly HashSet<(string, string)> _dirtyFiles = [];

    public NamespaceChunkRecord? GetNamespaceChunk(string ns, ChunkId id)
    {
        if (_namespaceChunks.TryGetValue((ns, id), out var pending))
        {
            return pending;
        }

        var bytes = _engine.Get(Keys.NamespaceChunk(ns, id), _engine.NamespaceChunks);
        var record = bytes is null ? null : NamespaceChunkRecord.Parser.ParseFrom(bytes);
        _namespaceChunks[(ns, id)] = record;
        return record;
    }

    public void PutNamespaceChunk(string ns, ChunkId id, NamespaceChunkRecord? record)
    {
        _namespaceChunks[(ns, id)] = record;
        _dirtyNamespaceChunks.Add((ns, id));
    }

    public FileRecord? GetFile(string ns, string path)
    {
        if (_files.TryGetValue((ns, path), out var pending))
        {
            return pending;
        }

        var bytes = _engine.Get(Keys.File(ns, path), _engine.Files);
        var record = bytes is null ? null : StoredFormat.ReadFile(bytes);
        _files[(ns, path)] = record;
        return record;
    }

    public void PutFile(string ns, string path, FileRecord? record)
    {
        _files[(ns, path)] = record;
        _dirtyFiles.Add((ns, path));
    }

    public void PutNamespace(NamespaceRecord record) => _namespaces[record.NamespaceId] = record;

    public void PutVersion(string ns, PathEntry entry) =>
        _batch.Put(Keys.Version(ns, entry.Path, entry.Version), StoredFormat.WriteVersion(entry), _engine.Versions);

    public void DeleteVersion(string ns, string path, ulong sequence)
    {
        _batch.Delete(Keys.Version(ns, path, sequence), _engine.Versions);
        _deletedVersions.Add((ns, path, sequence));
    }

    /// <summary>
    /// True when this batch already deletes that version. Scans read the committed store, which still holds it:
    /// pruning it again would drop its chunk references twice.
    /// </summary>
    public bool DeletesVersion(string ns, string path, ulong sequence) => _deletedVersions.Contains((ns, path, sequence));

    private readonly HashSet<(string, string, ulong)> _deletedVersions = [];

    public void PutChange(string ns, ChangeEntry change) =>
        _batch.Put(Keys.Change(ns, change.Sequence), StoredFormat.WriteChange(change), _engine.Changes);

    public void PutUser(UserRecord user)
    {
        var bytes = user.ToByteArray();
        _batch.Put(Keys.UserByName(user.Name), bytes, _engine.Users);
        _batch.Put(Keys.UserByTokenHash(user.TokenHash.Span), bytes, _engine.Users);
    }

    public void DeleteUser(UserRecord user)
    {
        _batch.Delete(Keys.UserByName(user.Name), _engine.Users);
        _batch.Delete(Keys.UserByTokenHash(user.TokenHash.Span), _engine.Users);
    }

    /// <summary>Records a registered node (see <see cref="StoredFormat.WriteNode"/>).</summary>
    public void PutNode(NodeEntry node) => _batch.Put(Keys.Node(node.Node.NodeId), StoredFormat.WriteNode(node), _engine.Nodes);

    /// <summary>Removes a node from the registry (<c>nodes forget</c>).</summary>
    public void DeleteNode(string nodeId) => _batch.Delete(Keys.Node(nodeId), _engine.Nodes);

    /// <summary>Records a node as forgotten: its id may not register again.</summary>
    public void PutForgottenNode(ForgottenNodeEntry record) =>
        _batch.Put(Keys.ForgottenNode(record.Node.NodeId), StoredFormat.WriteForgottenNode(record), _engine.Meta);

    /// <summary>Deletes one change-log entry (a removed account's purge).</summary>
    public void DeleteChange(string ns, ulong sequence) => _batch.Delete(Keys.Change(ns, sequence), _engine.Changes);

    /// <summary>Deletes a namespace's record (the last step of a removed account's purge).</summary>
    public void DeleteNamespace(string ns)
    {
        _namespaces.Remove(ns);
        _batch.Delete(Keys.Namespace(ns), _engine.Namespaces);
    }

    public void AddGcCandidate(ChunkId id) => _gcCandidates[id] = true;

    public void RemoveGcCandidate(ChunkId id) => _gcCandidates[id] = false;

    /// <summary>Each chunk's last staged change to the collection candidates: added (true) or removed (false).</summary>
    private readonly Dictionary<ChunkId, bool> _gcCandidates = [];

    /// <summary>
    /// Writes everything staged as one atomic batch; fsynced before returning when <paramref name="sync"/>. The staged
    /// records go in key order within each family: what is written is the same in any order (one write per key), but
    /// the memtable's skip list inserts a key next to the one before it faster than at a random place (chunk ids are
    /// random, and a commit of many files writes a record per chunk in each of three families).
    /// </summary>
    public void Commit(bool sync = false)
    {
        var chunkIds = _dirtyChunks.ToArray();
        Array.Sort(chunkIds);
        foreach (var id in chunkIds)
        {
            var record = _chunks[id];
            if (record is null)
            {
                _batch.Delete(Keys.Chunk(id), _engine.Chunks);
                _batch.Delete(Keys.ChunkTombstone(id), _engine.Meta);
            }
            else if (IsTombstone(record))
            {
                _batch.Delete(Keys.Chunk(id), _engine.Chunks);
                _batch.Put(Keys.ChunkTombstone(id), record.ToByteArray(), _engine.Meta);
            }
            else
            {
                // A tombstone left behind would be harmless (the Chunks CF is read first), but it would linger.
                _batch.Put(Keys.Chunk(id), record.ToByteArray(), _engine.Chunks);
                if (_readAsTombstone.Contains(id))
                {
                    _batch.Delete(Keys.ChunkTombstone(id), _engine.Meta);
                }
            }
        }

        var namespaceChunks = _dirtyNamespaceChunks.ToArray();
        Array.Sort(namespaceChunks, static (x, y) =>
        {
            var byNamespace = string.CompareOrdinal(x.Item1, y.Item1);
            return byNamespace != 0 ? byNamespace : x.Item2.CompareTo(y.Item2);
        });
        foreach (var (ns, id) in namespaceChunks)
        {
            var record = _namespaceChunks[(ns, id)];
            if (record is null)
            {
                _batch.Delete(Keys.NamespaceChunk(ns, id), _engine.NamespaceChunks);
            }
            else
            {
                _batch.Put(Keys.NamespaceChunk(ns, id), record.ToByteArray(), _engine.NamespaceChunks);
            }
        }

        var files = new (byte[] Key, FileRecord? Record)[_dirtyFiles.Count];
        var at = 0;
        foreach (var (ns, path) in _dirtyFiles)
        {
            files[at++] = (Keys.File(ns, path), _files[(ns, path)]);
        }

        Array.Sort(files, static (x, y) => x.Key.AsSpan().SequenceCompareTo(y.Key));
        foreach (var (key, record) in files)
        {
            if (record is null)
            {
                _batch.Delete(key, _engine.Files);
            }
            else
            {
                _batch.Put(key, StoredFormat.WriteFile(record), _engine.Files);
            }
        }

        var candidates = _gcCandidates.Keys.ToArray();
        Array.Sort(candidates);
        foreach (var id in candidates)
        {
            if (_gcCandidates[id])
            {
                _batch.Put(Keys.Chunk(id), Array.Empty<byte>(), _engine.Gc);
            }
            else
            {
                _batch.Delete(Keys.Chunk(id), _engine.Gc);
            }
        }

        foreach (var record in _namespaces.Values)
        {
            _batch.Put(Keys.Namespace(record.NamespaceId), record.ToByteArray(), _engine.Namespaces);
        }

        if (_batch.Count() > 0)
        {
            _engine.Write(_batch, sync);
        }
    }

    /// <summary>
    /// Visits the committed Files records whose key starts with <paramref name="prefix"/> (not this batch's own writes,
    /// unlike the other reads here), through one iterator the batch keeps: a commit of many files checks under each
    /// path, and making an iterator per check cost more than the seek. The iterator sees the database as of its making,
    /// so it is made again when the database's latest sequence number has moved since (something committed during the
    /// batch's life, e.g. a nested write under the reentrant write lock): it always sees what a new one would.
    /// </summary>
    public void VisitCommittedFiles(byte[] prefix, RocksEngine.SpanVisitor visitor)
    {
        var latest = _engine.LatestSequence;
        if (_filesIterator is null || _filesIteratorSequence != latest)
        {
            _filesIterator?.Dispose();
            _filesIterator = null;
            _filesIterator = _engine.NewIterator(_engine.Files);
            _filesIteratorSequence = latest;
        }

        RocksEngine.Visit(_filesIterator, prefix, prefix, visitor);
    }

    private Iterator? _filesIterator;
    private ulong _filesIteratorSequence;

    public void Dispose()
    {
        _filesIterator?.Dispose();
        _batch.Dispose();
    }
}
