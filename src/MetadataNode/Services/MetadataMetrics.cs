using Dropbox.Hosting;
using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Protos.Metadata;
using Prometheus;

namespace Dropbox.MetadataNode.Services;

/// <summary>
/// The metadata node's own metrics: counters moved by the sync API and the garbage collector, and gauges read from
/// the store at scrape time (the under-replicated count from a cached scan, refreshed at most every
/// <see cref="UnderReplicatedRefresh"/>, since it reads every chunk record).
/// </summary>
internal sealed class MetadataMetrics
{
    /// <summary>Longest age of the cached under-replicated count.</summary>
    public static readonly TimeSpan UnderReplicatedRefresh = TimeSpan.FromSeconds(15);

    private readonly MetadataStore _store;
    private readonly object _scanLock = new();
    private long _underReplicatedAt = long.MinValue;
    private long _underReplicated;
    private bool _counted;

    public MetadataMetrics(NodeMetrics metrics, MetadataStore store)
    {
        _store = store;
        var f = metrics.Factory;
        ChunksPlanned = f.CreateCounter("dropbox_metadata_chunks_planned_total", "Chunks named in upload plans.");
        ChunksToUpload = f.CreateCounter("dropbox_metadata_chunks_to_upload_total", "Distinct planned chunks the client was told to upload.");
        PutsPlanned = f.CreateCounter("dropbox_metadata_chunk_puts_planned_total", "Put tokens handed out by plans (one per chunk and replica).");
        ChunksDeduplicated = f.CreateCounter("dropbox_metadata_chunks_deduplicated_total", "Planned chunks the client need not upload (its account already had them).");
        BytesPlanned = f.CreateCounter("dropbox_metadata_bytes_planned_total", "Plain bytes of files in upload plans.");
        GcRuns = f.CreateCounter("dropbox_gc_runs_total", "Retention and garbage-collection passes run.");
        GcOwedRuns = f.CreateCounter("dropbox_gc_owed_runs_total", "Runs that finished the chunk deletions owed by storage nodes back (or due a retry), between passes.");
        GcVersionsPruned = f.CreateCounter("dropbox_gc_versions_pruned_total", "Old versions removed by retention.");
        GcChunksDeleted = f.CreateCounter("dropbox_gc_chunks_deleted_total", "Unreferenced chunks deleted from their storage nodes.");
        GcChunksFailed = f.CreateCounter("dropbox_gc_chunks_failed_total", "Chunk deletions that failed (retried on a later pass).");
        GcBytesReclaimed = f.CreateCounter("dropbox_gc_bytes_reclaimed_total", "Stored bytes of the chunks deleted (on one replica).");
        ReplicationCopied = f.CreateCounter("dropbox_replication_chunks_copied_total", "Chunk copies made node to node to restore the replication factor (dead or draining node).");
        ReplicationBytes = f.CreateCounter("dropbox_replication_bytes_copied_total", "Stored bytes of those copies.");

        // Not exported until a whole count exists (a node stopping before its first whole scan has no count to give).
        var underReplicated = f.CreateGauge("dropbox_chunks_under_replicated", "Stored chunks held by fewer healthy (live, not draining) storage nodes than the replication factor.", new GaugeConfiguration { SuppressInitialValue = true });
        var replication = f.CreateGauge("dropbox_replication_factor", "Storage nodes each chunk should be on.");
        var nodes = f.CreateGauge("dropbox_storage_nodes", "Storage nodes by state (live: heartbeat within the node timeout).", ["state"]);
        var accounts = f.CreateGauge("dropbox_metadata_accounts", "Accounts (namespaces).");
        var pendingPuts = f.CreateGauge("dropbox_metadata_pending_puts", "Put tokens outstanding (planned uploads not yet reported stored by a storage node).");
        var diskFree = f.CreateGauge("dropbox_disk_free_bytes", "Free bytes (available to this process) on the data directory's file system.");
        var diskTotal = f.CreateGauge("dropbox_disk_total_bytes", "Size of the data directory's file system.");
        var diskUsed = f.CreateGauge("dropbox_disk_used_bytes", "Bytes of the RocksDB store's files.");
        var tableReaders = f.CreateGauge("dropbox_metadata_table_readers_bytes", "Heap memory of the RocksDB store's open sorted tables (their index and Bloom filter blocks, outside the block cache; about 10 bytes per one-chunk file).");
        // Under the store's close gate: a scrape racing the close reads nothing rather than a closed database.
        metrics.Registry.AddBeforeCollectCallback(() => _store.WhileOpen(() =>
        {
            var live = _store.LiveNodes().Count;
            nodes.WithLabels("live").Set(live);
            nodes.WithLabels("down").Set(_store.RegisteredNodeCount - live);
            replication.Set(_store.ReplicationFactor);
            accounts.Set(_store.NamespaceCount);
            pendingPuts.Set(_store.PendingPutCount());
            if (UnderReplicated() is { } count)
            {
                underReplicated.Set(count);
            }
            diskUsed.Set(DirectoryBytes(_store.DataDirectory));
            tableReaders.Set(_store.TableReaderBytes);
            DiskSpace.Set(_store.DataDirectory, diskFree, diskTotal);
        }));
    }

    public Counter ChunksPlanned { get; }

    public Counter ChunksToUpload { get; }

    public Counter ChunksDeduplicated { get; }

    public Counter PutsPlanned { get; }

    public Counter BytesPlanned { get; }

    public Counter GcRuns { get; }

    public Counter GcOwedRuns { get; }

    public Counter GcVersionsPruned { get; }

    public Counter GcChunksDeleted { get; }

    public Counter GcChunksFailed { get; }

    public Counter GcBytesReclaimed { get; }

    public Counter ReplicationCopied { get; }

    public Counter ReplicationBytes { get; }

    /// <summary>Counts the copies of one re-replication pass.</summary>
    public void ReplicationPass(Domain.Replication.ReplicationPassResult result)
    {
        ReplicationCopied.Inc(result.Copied);
        ReplicationBytes.Inc(result.CopiedBytes);
    }

    /// <summary>Counts one answered upload plan: the file's chunks, and the puts (one per missing chunk and replica).</summary>
    public void Planned(FileUpload upload, UploadPlan plan) => Planned(upload.Chunks, upload.Size, plan);

    /// <summary>Counts the answered plan of several files (PlanUploads), each as <see cref="Planned(FileUpload, UploadPlan)"/>.</summary>
    public void Planned(IReadOnlyList<FileUpload> uploads, IReadOnlyList<UploadPlan> plans)
    {
        for (var i = 0; i < uploads.Count && i < plans.Count; i++)
        {
            Planned(uploads[i], plans[i]);
        }
    }

    /// <summary>Counts one answered window of a large file (PlanChunks): its chunks and their plain bytes.</summary>
    public void Planned(ChunkWindow window, UploadPlan plan)
    {
        var bytes = 0UL;
        foreach (var chunk in window.Chunks)
        {
            bytes += (ulong)chunk.Size;
        }

        Planned(window.Chunks, bytes, plan);
    }

    private void Planned(IReadOnlyList<Dropbox.Shared.Chunks.ChunkRef> chunks, ulong bytes, UploadPlan plan)
    {
        var distinct = chunks.Select(c => c.Id).Distinct().Count();
        var missing = plan.Missing.Count == 0 ? 0 : plan.Missing.Select(m => m.ChunkId).Distinct().Count();
        ChunksPlanned.Inc(chunks.Count);
        ChunksToUpload.Inc(missing);
        ChunksDeduplicated.Inc(Math.Max(0, distinct - missing));
        PutsPlanned.Inc(plan.Missing.Count);
        BytesPlanned.Inc(bytes);
    }

    /// <summary>Counts one garbage-collection pass.</summary>
    public void GcPass(GcResult result)
    {
        GcRuns.Inc();
        GcCounts(result);
    }

    /// <summary>Counts one run finishing the deletions owed by nodes back (MetadataStore.FinishOwedDeletionsAsync), not a pass.</summary>
    public void GcOwedRun(GcResult result)
    {
        GcOwedRuns.Inc();
        GcCounts(result);
    }

    private void GcCounts(GcResult result)
    {
        GcVersionsPruned.Inc(result.PrunedVersions);
        GcChunksDeleted.Inc(result.DeletedChunks);
        GcChunksFailed.Inc(result.FailedChunks);
        GcBytesReclaimed.Inc(result.DeletedBytes);
    }

    /// <summary>Forces the next scrape to recount under-replicated chunks (tests, after a node change).</summary>
    public void InvalidateUnderReplicated() => Interlocked.Exchange(ref _underReplicatedAt, long.MinValue);

    /// <summary>The last whole under-replicated count, recounted when due; null until a scan has run to its end.</summary>
    private long? UnderReplicated()
    {
        lock (_scanLock)
        {
            var now = Environment.TickCount64;
            // A scan cut short by the node stopping is not a count: the last whole one stays, and is not marked fresh.
            if ((_underReplicatedAt == long.MinValue || now - _underReplicatedAt > (long)UnderReplicatedRefresh.TotalMilliseconds)
                && _store.TryCountUnderReplicated(out var count))
            {
                _underReplicated = count;
                _underReplicatedAt = now;
                _counted = true;
            }

            return _counted ? _underReplicated : null;
        }
    }

    private static long DirectoryBytes(string directory)
    {
        long total = 0;
        try
        {
            foreach (var file in new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.TopDirectoryOnly))
            {
                total += file.Length;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A file RocksDB removed mid-walk: the next scrape counts again.
        }

        return total;
    }
}
