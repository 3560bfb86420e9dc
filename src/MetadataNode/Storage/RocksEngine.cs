using RocksDbSharp;

namespace Dropbox.MetadataNode.Storage;

/// <summary>
/// The RocksDB engine: one database with a column family per record kind. Knows bytes and keys, nothing of
/// the sync protocol. Every multi-key change goes through <see cref="Write"/> as one atomic batch.
/// </summary>
internal sealed class RocksEngine : IDisposable
{
    /// <summary>Sees one key and value; returns false to stop.</summary>
    public delegate bool SpanVisitor(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

    /// <summary>Column family names, in the order they are opened.</summary>
    public static readonly string[] FamilyNames =
        ["users", "namespaces", "files", "versions", "chunks", "ns_chunks", "changes", "nodes", "gc"];

    private readonly RocksDb _db;
    private readonly WriteOptions _writeOptions;
    private readonly WriteOptions _syncWriteOptions;
    private ulong _durableSequence;
    private readonly ReadOptions _readOptions = new();
    private int _disposed;

    private RocksEngine(RocksDb db, string directory)
    {
        _db = db;
        Directory = directory;
        _writeOptions = new WriteOptions().SetSync(false);
        _syncWriteOptions = new WriteOptions().SetSync(true);
        Users = db.GetColumnFamily("users");
        Namespaces = db.GetColumnFamily("namespaces");
        Files = db.GetColumnFamily("files");
        Versions = db.GetColumnFamily("versions");
        Chunks = db.GetColumnFamily("chunks");
        NamespaceChunks = db.GetColumnFamily("ns_chunks");
        Changes = db.GetColumnFamily("changes");
        Nodes = db.GetColumnFamily("nodes");
        Gc = db.GetColumnFamily("gc");
        Meta = db.GetDefaultColumnFamily();
    }

    /// <summary>The default column family: store-wide facts such as the schema version (<see cref="StoreSchema"/>).</summary>
    public ColumnFamilyHandle Meta { get; }

    /// <summary>Directory of the database.</summary>
    public string Directory { get; }

    /// <summary>Users by token hash ("t"+hash) and by name ("u"+name).</summary>
    public ColumnFamilyHandle Users { get; }

    /// <summary>Namespaces by id.</summary>
    public ColumnFamilyHandle Namespaces { get; }

    /// <summary>Current state of each path: (namespace, path).</summary>
    public ColumnFamilyHandle Files { get; }

    /// <summary>Retained versions: (namespace, path, sequence).</summary>
    public ColumnFamilyHandle Versions { get; }

    /// <summary>Chunks by id: size, encoding, refcount, state, locations.</summary>
    public ColumnFamilyHandle Chunks { get; }

    /// <summary>Per-namespace chunk knowledge: (namespace, chunk id).</summary>
    public ColumnFamilyHandle NamespaceChunks { get; }

    /// <summary>The change log: (namespace, sequence).</summary>
    public ColumnFamilyHandle Changes { get; }

    /// <summary>Registered storage nodes by id.</summary>
    public ColumnFamilyHandle Nodes { get; }

    /// <summary>Garbage-collection candidates: chunk ids whose refcount is 0.</summary>
    public ColumnFamilyHandle Gc { get; }

    /// <summary>Opens (or creates) the database under <paramref name="directory"/>.</summary>
    public static RocksEngine Open(string directory) => Open(directory, tableFilters: true);

    /// <summary>
    /// Opens the database; <paramref name="tableFilters"/> false leaves the point-read families' sorted tables without
    /// Bloom filters (as before stop 57), only for the benchmark that measures what the filters save.
    /// </summary>
    internal static RocksEngine Open(string directory, bool tableFilters)
    {
        // RocksDB creates its files with the process umask (often 0644); the owner-only folder is what keeps other
        // local accounts out. Files from before are tightened to 0600 as well.
        Dropbox.Shared.IO.PrivateFolder.CreateAndTightenTree(directory);
        var options = new DbOptions()
            .SetCreateIfMissing(true)
            .SetCreateMissingColumnFamilies(true)
            .IncreaseParallelism(2)
            .SetMaxBackgroundCompactions(1)
            .SetMaxBackgroundFlushes(1);
        var families = new ColumnFamilies(FamilyOptions("default", tableFilters)); // the default family holds the chunk tombstones
        foreach (var name in FamilyNames)
        {
            families.Add(name, FamilyOptions(name, tableFilters));
        }

        try
        {
            return new RocksEngine(RocksDb.Open(options, directory, families), directory);
        }
        catch (RocksDbException ex) when (ex.Message.Contains("lock", StringComparison.OrdinalIgnoreCase))
        {
            throw new Dropbox.Shared.Errors.DropboxException(
                Dropbox.Shared.Errors.ErrorKind.Unavailable,
                $"The metadata store in '{directory}' is in use by another process (is a metadata node running on it?). Stop it first.",
                ex);
        }
    }

    /// <summary>
    /// The families read by key on every upload (files, chunks, per-account chunks, and the default family's chunk
    /// tombstones) get a Bloom filter over whole keys, in the memtable and in every sorted table written from now on:
    /// most of those reads look for a key that is not there (a new file, a new chunk, a chunk without a tombstone). In
    /// the memtable the filter answers them without walking the skip list; in the tables, without reading an index and a
    /// data block of every table that may hold the key (from the page cache, or the disk for a store larger than memory).
    /// 10 bits per key (about 1% false positives) cost about 1.25 bytes of process heap per key held in tables, outside
    /// the block cache (table-reader memory 1.43 against 0.18 bytes per key without, at 300,000 chunk records): about 4
    /// bytes per one-chunk file, 40 MB at 10 million files (docs/SCALING.md). Tables written before stay without a
    /// filter until compaction rewrites them. No prefix extractor is set, so the filters serve point reads only;
    /// iterators and prefix scans read as before.
    /// </summary>
    private static ColumnFamilyOptions FamilyOptions(string name, bool tableFilters)
    {
        var options = new ColumnFamilyOptions();
        if (name is "default" or "files" or "chunks" or "ns_chunks")
        {
            WithMemtableFilter(options.Handle);
            if (tableFilters)
            {
                options.SetBlockBasedTableFactory(new BlockBasedTableOptions()
                    .SetFilterPolicy(BloomFilterPolicy.Create(TableFilterBitsPerKey, false))
                    .SetWholeKeyFiltering(true));
            }
        }

        return options;
    }

    /// <summary>
    /// Heap memory of the open sorted tables' readers over every column family (their index and Bloom filter blocks,
    /// held outside the block cache; RocksDB's estimate): the filters' share grows with the keys in tables.
    /// Read at every scrape, which may race the store's close: under <see cref="_closeGate"/>, and 0 once closed (a
    /// property read on a closed database would touch freed native memory).
    /// </summary>
    public long TableReaderBytes()
    {
        lock (_closeGate)
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                return 0;
            }

            return AllFamilies().Sum(family => ParseLong(_db.GetProperty("rocksdb.estimate-table-readers-mem", family)));
        }
    }

    /// <summary>Held by <see cref="Dispose"/> and by the reads a metrics scrape makes, which may race it.</summary>
    private readonly object _closeGate = new();

    private static long ParseLong(string? value) =>
        long.TryParse(value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var parsed) ? parsed : 0;

    /// <summary>A RocksDB property of one column family (tests: <c>rocksdb.aggregated-table-properties</c>), or null.</summary>
    internal string? Property(string name, ColumnFamilyHandle family) => _db.GetProperty(name, family);

    /// <summary>Bits per key of the sorted tables' Bloom filters (<see cref="FamilyOptions"/>).</summary>
    internal const int TableFilterBitsPerKey = 10;

    /// <summary>
    /// Benchmarks and tests only: writes every column family's memtable to sorted tables and waits (reads then go to the
    /// tables, as in a store that has run for a while). One family after another, not atomically across them.
    /// </summary>
    internal void FlushAll()
    {
        var options = new FlushOptions().SetWaitForFlush(true);
        foreach (var family in AllFamilies())
        {
            Native.Instance.rocksdb_flush_cf(_db.Handle, options.Handle, family.Handle);
        }

        GC.KeepAlive(options);
    }

    /// <summary>Benchmarks and tests only: compacts every column family's whole key range (tables rewritten, settled).</summary>
    internal void CompactAll()
    {
        foreach (var family in AllFamilies())
        {
            _db.CompactRange((byte[]?)null, null, family);
        }
    }

    /// <summary>Every column family: the default one (<see cref="Meta"/>), then <see cref="FamilyNames"/> in order.</summary>
    private IEnumerable<ColumnFamilyHandle> AllFamilies() => FamilyNames.Select(_db.GetColumnFamily).Prepend(Meta);

    private static void WithMemtableFilter(IntPtr options)
    {
        Native.Instance.rocksdb_options_set_memtable_prefix_bloom_size_ratio(options, 0.02);
        Native.Instance.rocksdb_options_set_memtable_whole_key_filtering(options, 1);
    }

    /// <summary>Reads one value, or null.</summary>
    public byte[]? Get(ReadOnlySpan<byte> key, ColumnFamilyHandle family) => _db.Get(key, family, _readOptions);

    /// <summary>
    /// Applies a batch atomically: written to the WAL, and fsynced before returning when <paramref name="sync"/>
    /// (else not yet: see <see cref="SyncWal"/>).
    /// </summary>
    public void Write(WriteBatch batch, bool sync = false)
    {
        if (!sync)
        {
            _db.Write(batch, _writeOptions);
            return;
        }

        _db.Write(batch, _syncWriteOptions);
        MarkDurable(_db.GetLatestSequenceNumber());
    }

    /// <summary>Forces the WAL to disk: every write that returned before this call survives power loss.</summary>
    public void SyncWal()
    {
        var latest = _db.GetLatestSequenceNumber();
        Native.Instance.rocksdb_flush_wal(_db.Handle, 1);
        MarkDurable(latest);
    }

    /// <summary>Sequence number of the last write known to be fsynced (tests: "durable before acting on it").</summary>
    public ulong DurableSequence => Interlocked.Read(ref _durableSequence);

    /// <summary>Sequence number of the last write applied.</summary>
    public ulong LatestSequence => _db.GetLatestSequenceNumber();

    private void MarkDurable(ulong sequence)
    {
        var seen = Interlocked.Read(ref _durableSequence);
        while (sequence > seen)
        {
            var previous = Interlocked.CompareExchange(ref _durableSequence, sequence, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }

    /// <summary>Iterates the keys that start with <paramref name="prefix"/>, from <paramref name="start"/> (default: the prefix).</summary>
    public IEnumerable<(byte[] Key, byte[] Value)> ScanPrefix(ColumnFamilyHandle family, byte[] prefix, byte[]? start = null)
    {
        using var iterator = _db.NewIterator(family, _readOptions);
        iterator.Seek(start ?? prefix);
        while (iterator.Valid())
        {
            var key = iterator.Key();
            if (!key.AsSpan().StartsWith(prefix))
            {
                yield break;
            }

            yield return (key, iterator.Value());
            iterator.Next();
        }
    }

    /// <summary>
    /// Visits keys starting with <paramref name="prefix"/> from <paramref name="start"/> without copying them:
    /// the spans are valid only during the call. The visitor returns false to stop.
    /// </summary>
    public void Visit(ColumnFamilyHandle family, byte[] prefix, byte[] start, SpanVisitor visitor)
    {
        using var iterator = _db.NewIterator(family, _readOptions);
        iterator.Seek(start);
        while (iterator.Valid())
        {
            var key = iterator.GetKeySpan();
            if (!key.StartsWith(prefix) || !visitor(key, iterator.GetValueSpan()))
            {
                return;
            }

            iterator.Next();
        }
    }

    /// <summary>
    /// An iterator over <paramref name="family"/> as committed now, for a caller that seeks it many times (<see
    /// cref="Visit(Iterator, byte[], byte[], SpanVisitor)"/>): one iterator's setup instead of one per look-up. It sees
    /// nothing written after it was made; dispose it.
    /// </summary>
    public Iterator NewIterator(ColumnFamilyHandle family) => _db.NewIterator(family, _readOptions);

    /// <summary>
    /// <see cref="Visit(ColumnFamilyHandle, byte[], byte[], SpanVisitor)"/> over an iterator from <see cref="NewIterator"/>
    /// (seeks it again; the spans are valid only during the call).
    /// </summary>
    public static void Visit(Iterator iterator, byte[] prefix, byte[] start, SpanVisitor visitor)
    {
        iterator.Seek(start);
        while (iterator.Valid())
        {
            var key = iterator.GetKeySpan();
            if (!key.StartsWith(prefix) || !visitor(key, iterator.GetValueSpan()))
            {
                return;
            }

            iterator.Next();
        }
    }

    /// <summary>
    /// Writes a RocksDB checkpoint of the whole database (every column family, one point in time) to
    /// <paramref name="directory"/>, which must not exist: SST files hard-linked on the same file system, else copied;
    /// the memtable flushed first, so no WAL replay is needed. Writers go on meanwhile. The folder opens as a database.
    /// </summary>
    public void Checkpoint(string directory)
    {
        using var checkpoint = _db.Checkpoint();
        checkpoint.Save(directory);
    }

    /// <summary>Iterates a whole column family.</summary>
    public IEnumerable<(byte[] Key, byte[] Value)> ScanAll(ColumnFamilyHandle family) => ScanPrefix(family, []);

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_closeGate)
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                _db.Dispose();
            }
        }
    }
}
