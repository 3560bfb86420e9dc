using Dropbox.Hosting;
using Dropbox.StorageNode.Store;
using Prometheus;

namespace Dropbox.StorageNode.Hosting;

/// <summary>
/// The storage node's gauges, read from the engine, the outbox and the file system at scrape time (nothing on the
/// hot path): chunks and bytes held, disk free, pending "chunk stored" events, and whether writes are stopped.
/// </summary>
public static class StorageGauges
{
    /// <summary>Registers the gauges in <paramref name="metrics"/>; they refresh before each collection.</summary>
    public static void Register(NodeMetrics metrics, ChunkStore store, string dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(store);
        var f = metrics.Factory;
        var chunks = f.CreateGauge("dropbox_storage_chunks", "Chunks held (live).");
        var live = f.CreateGauge("dropbox_storage_live_bytes", "Bytes of live chunk records in segments.");
        var dead = f.CreateGauge("dropbox_storage_dead_bytes", "Bytes of deleted or superseded records that compaction can reclaim.");
        var segments = f.CreateGauge("dropbox_storage_segments", "Segment files.");
        var quarantined = f.CreateGauge("dropbox_storage_chunks_quarantined", "Chunks quarantined as corrupt by scrub.");
        var pending = f.CreateGauge("dropbox_storage_pending_events", "\"Chunk stored\" events not yet delivered to the metadata node.");
        var writeFailed = f.CreateGauge("dropbox_storage_write_failed", "1 when the engine stopped taking writes after a failed fsync, else 0.");
        var full = f.CreateGauge("dropbox_storage_full", "1 while the node refuses puts because its data disk is full (free space below the reserve), else 0.");
        var diskFree = f.CreateGauge("dropbox_disk_free_bytes", "Free bytes (available to this process) on the data directory's file system.");
        var diskTotal = f.CreateGauge("dropbox_disk_total_bytes", "Size of the data directory's file system.");
        var diskUsed = f.CreateGauge("dropbox_disk_used_bytes", "Bytes this node uses in its data directory (segment files).");
        metrics.Registry.AddBeforeCollectCallback(() =>
        {
            var stats = store.Engine.GetStats();
            chunks.Set(stats.ChunkCount);
            live.Set(stats.LiveBytes);
            dead.Set(stats.DeadBytes);
            segments.Set(stats.SegmentCount);
            quarantined.Set(stats.Quarantined);
            diskUsed.Set(stats.LiveBytes + stats.DeadBytes);
            pending.Set(store.Outbox.PendingCount);
            writeFailed.Set(store.Engine.WriteFault is null ? 0 : 1);
            full.Set(store.Space is { IsFull: true } ? 1 : 0);
            DiskSpace.Set(dataDirectory, diskFree, diskTotal);
        });
    }
}
