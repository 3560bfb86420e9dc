using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>The store's cross-record invariants, checked with every writer held off (the <c>check</c> verb, tests).</summary>
internal sealed class ConsistencyCheck
{
    private readonly RocksEngine _engine;
    private readonly StoreTransactions? _transactions;

    public ConsistencyCheck(RocksEngine engine, StoreTransactions transactions)
    {
        _engine = engine;
        _transactions = transactions;
    }

    /// <summary>A check of a database nothing writes to (a checkpoint of a running store, see <see cref="Backups.OnlineCheck"/>): no lock needed.</summary>
    public ConsistencyCheck(RocksEngine snapshot) => _engine = snapshot;

    /// <summary>
    /// Checks every cross-record invariant and returns what is violated (empty = consistent): contiguous
    /// change logs up to each head, every change's version present unless retention pruned it (retained
    /// versions are a suffix of a path's history), file records matching their newest version, namespace
    /// totals, and refcounts equal to a recount over the retained versions.
    /// </summary>
    public IReadOnlyList<string> Run() => RunWithNotes().Problems;

    /// <summary>
    /// <see cref="Run"/>, and the known losses that are not inconsistencies: referenced chunks whose last copy went with
    /// a node forgotten with --force, one line per node (the forget named each chunk and file when it ran).
    /// </summary>
    public (IReadOnlyList<string> Problems, IReadOnlyList<string> Notes) RunWithNotes() => _transactions is null ? CheckUnderLock() : _transactions.Exclusive(CheckUnderLock);

    private (IReadOnlyList<string> Problems, IReadOnlyList<string> Notes) CheckUnderLock()
    {
        {
            var lostWith = new SortedDictionary<string, (long Chunks, long References)>(StringComparer.Ordinal);
            var problems = new List<string>();
            var versions = new Dictionary<(string Ns, string Path), SortedDictionary<ulong, PathEntry>>();
            var chunkRefs = new Dictionary<ChunkId, long>();
            var nsChunkRefs = new Dictionary<(string, ChunkId), long>();
            foreach (var (key, value) in _engine.ScanAll(_engine.Versions))
            {
                var (ns, path, seq) = Keys.ParseVersionKey(key);
                var entry = StoredFormat.ReadVersion(value);
                if (entry.Version != seq || entry.Path != path)
                {
                    problems.Add($"version key ({ns}, {path}, {seq}) holds entry ({entry.Path}, {entry.Version})");
                }

                if (!versions.TryGetValue((ns, path), out var list))
                {
                    versions[(ns, path)] = list = [];
                }

                list[seq] = entry;
                if (!entry.Deleted && entry.Kind == PathKind.File)
                {
                    foreach (var id in entry.Chunks.Select(c => c.Id).Distinct())
                    {
                        chunkRefs[id] = chunkRefs.GetValueOrDefault(id) + 1;
                        nsChunkRefs[(ns, id)] = nsChunkRefs.GetValueOrDefault((ns, id)) + 1;
                    }
                }
            }

            foreach (var (_, value) in _engine.ScanAll(_engine.Namespaces))
            {
                var ns = NamespaceRecord.Parser.ParseFrom(value);
                if (ns.Removed)
                {
                    // Being purged (its log, files and versions go in separate batches): only its chunk counts must hold.
                    continue;
                }

                ulong expected = 1;
                foreach (var (_, changeBytes) in _engine.ScanPrefix(_engine.Changes, Keys.ChangePrefix(ns.NamespaceId)))
                {
                    var change = StoredFormat.ReadChange(changeBytes);
                    if (change.Sequence != expected && !ChangeFeed.IsJump(ns, expected - 1, change.Sequence))
                    {
                        problems.Add($"namespace {ns.NamespaceId}: change log has {change.Sequence} where {expected} was expected");
                    }

                    expected = change.Sequence + 1;
                    CheckVersion(ns.NamespaceId, change.Entry!.Path, change.Sequence);
                    if (change.Kind == ChangeType.Move)
                    {
                        CheckVersion(ns.NamespaceId, change.OldPath, change.Sequence);
                    }
                }

                if (ChangeFeed.AfterJumps(ns, expected - 1) != ns.Head)
                {
                    problems.Add($"namespace {ns.NamespaceId}: head is {ns.Head} but the log ends at {expected - 1}");
                }

                ulong files = 0, bytes = 0;
                var liveFiles = new HashSet<string>(StringComparer.Ordinal);
                var livePaths = new List<string>();
                foreach (var (fileKey, fileValue) in _engine.ScanPrefix(_engine.Files, Keys.FilePrefix(ns.NamespaceId, string.Empty)))
                {
                    var path = Keys.PathOfFileKey(fileKey);
                    var file = StoredFormat.ReadFile(fileValue);
                    if (!versions.TryGetValue((ns.NamespaceId, path), out var list) || list.Count == 0)
                    {
                        problems.Add($"file ({ns.NamespaceId}, {path}) has no versions");
                        continue;
                    }

                    var newest = list.Last().Value;
                    if (!newest.Equals(file.Current))
                    {
                        problems.Add($"file ({ns.NamespaceId}, {path}) is at {file.Current.Version} but its newest version is {newest.Version}");
                    }

                    if (file.VersionCount != list.Count)
                    {
                        problems.Add($"file ({ns.NamespaceId}, {path}) counts {file.VersionCount} versions but {list.Count} exist");
                    }

                    if (!file.Current.Deleted)
                    {
                        livePaths.Add(path);
                    }

                    if (file.Current is { Deleted: false, Kind: PathKind.File })
                    {
                        liveFiles.Add(path);
                        files++;
                        bytes += file.Current.Size;
                    }
                }

                // No live entry may sit under a live file: no disk can hold that tree, and every client fails on it.
                foreach (var path in livePaths)
                {
                    for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
                    {
                        if (liveFiles.Contains(path[..slash]))
                        {
                            problems.Add($"file ({ns.NamespaceId}, {path}) is live under '{path[..slash]}', which is a live file");
                            break;
                        }
                    }
                }

                if (files != ns.FileCount || bytes != ns.TotalBytes)
                {
                    problems.Add($"namespace {ns.NamespaceId}: totals say {ns.FileCount} files/{ns.TotalBytes} bytes, files say {files}/{bytes}");
                }
            }

            var gc = new HashSet<ChunkId>(_engine.ScanAll(_engine.Gc).Select(kv => new ChunkId(kv.Key)));
            var seenChunks = new HashSet<ChunkId>();
            var lost = new HashSet<ChunkId>();
            foreach (var (key, value) in _engine.ScanAll(_engine.Chunks))
            {
                var id = new ChunkId(key);
                seenChunks.Add(id);
                var record = ChunkRecord.Parser.ParseFrom(value);
                var expected = chunkRefs.GetValueOrDefault(id);
                if (record.Refcount != expected)
                {
                    problems.Add($"chunk {id.ToShortString()}: refcount {record.Refcount}, retained versions referencing it {expected}");
                }

                if (expected > 0 && record.LostWithNode.Length > 0 && record.Locations.Count == 0)
                {
                    // Lost by a forced forget: one note per forgotten node, not a problem per chunk or version.
                    var (chunks, references) = lostWith.GetValueOrDefault(record.LostWithNode);
                    lostWith[record.LostWithNode] = (chunks + 1, references + expected);
                }
                else if (expected > 0 && ChunkLedger.IsLost(record))
                {
                    lost.Add(id);
                }
                else if (expected > 0 && !ChunkLedger.IsStored(record))
                {
                    problems.Add($"chunk {id.ToShortString()}: referenced but in state {record.State} with {record.Locations.Count} locations");
                }

                if (record.Refcount == 0 && record.State != ChunkState.Deleted && !gc.Contains(id))
                {
                    problems.Add($"chunk {id.ToShortString()}: unreferenced but not a garbage-collection candidate");
                }
            }

            // A chunk every holder found corrupt is lost: name each version it damages, as history marks them.
            foreach (var ((ns, path), list) in versions)
            {
                foreach (var entry in list.Values)
                {
                    var bad = entry.Deleted || entry.Kind != PathKind.File ? [] : entry.Chunks.Select(c => c.Id).Where(lost.Contains).Take(1).ToList();
                    if (bad.Count > 0)
                    {
                        problems.Add($"damaged: version {entry.Version} of '{path}' (namespace {ns}) names chunk {bad[0].ToShortString()}, which has no intact copy left on any storage node; restore another version or upload the file again");
                    }
                }
            }

            foreach (var (id, count) in chunkRefs)
            {
                if (!seenChunks.Contains(id))
                {
                    problems.Add($"chunk {id.ToShortString()}: referenced by {count} versions but has no record");
                }
            }

            foreach (var (key, value) in _engine.ScanAll(_engine.NamespaceChunks))
            {
                var ns = Keys.NamespaceOfKey(key);
                var id = Keys.ChunkOfNamespaceChunkKey(key);
                var record = NamespaceChunkRecord.Parser.ParseFrom(value);
                var expected = nsChunkRefs.GetValueOrDefault((ns, id));
                if (record.Refs != expected)
                {
                    problems.Add($"namespace {ns} chunk {id.ToShortString()}: refs {record.Refs}, versions referencing it {expected}");
                }

                nsChunkRefs.Remove((ns, id));
            }

            foreach (var ((ns, id), count) in nsChunkRefs)
            {
                problems.Add($"namespace {ns} chunk {id.ToShortString()}: referenced by {count} versions but has no record");
            }

            var notes = lostWith.Select(l => $"{l.Value.Chunks} referenced chunk(s) were lost when storage node '{l.Key}' was forgotten with --force: {l.Value.References} retained file version reference(s) name them and cannot be downloaded (delete or overwrite those files, or restore them from a backup; uploading the same content again restores a chunk).").ToList();
            return (problems, notes);

            void CheckVersion(string ns, string path, ulong sequence)
            {
                if (!versions.TryGetValue((ns, path), out var list) || list.Count == 0)
                {
                    problems.Add($"change {sequence} of namespace {ns}: '{path}' has no versions at all");
                }
                else if (sequence >= list.First().Key && !list.ContainsKey(sequence))
                {
                    problems.Add($"change {sequence} of namespace {ns}: version of '{path}' is missing though newer ones are retained");
                }
            }
        }
    }
}
