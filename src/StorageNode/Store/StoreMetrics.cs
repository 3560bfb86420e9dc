using Prometheus;

namespace Dropbox.StorageNode.Store;

/// <summary>The chunk store's counters (lock-free increments; one per chunk, never per byte).</summary>
public sealed class StoreMetrics
{
    /// <summary>Creates the counters through <paramref name="factory"/> (a node's registry).</summary>
    public StoreMetrics(IMetricFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        ChunksStored = factory.CreateCounter("dropbox_storage_chunks_stored_total", "Chunks written (new to this node) by puts.");
        ChunksDeduplicated = factory.CreateCounter("dropbox_storage_chunks_deduplicated_total", "Chunks put that this node already held (nothing written).");
        BytesIn = factory.CreateCounter("dropbox_storage_bytes_in_total", "Chunk bytes received by puts, as sent (compressed when LZ4), verified or not.");
        BytesOut = factory.CreateCounter("dropbox_storage_bytes_out_total", "Chunk bytes served to readers, as stored.");
        PutsRefused = factory.CreateCounter("dropbox_storage_puts_refused_total", "Puts refused before anything was stored (bad header or hash mismatch).");
        PutsRefusedFull = factory.CreateCounter("dropbox_storage_puts_refused_full_total", "Puts refused because the node's data disk is full (free space below the reserve, or a write found none).");
    }

    /// <summary><c>dropbox_storage_puts_refused_full_total</c>.</summary>
    public Counter PutsRefusedFull { get; }

    /// <summary><c>dropbox_storage_chunks_stored_total</c>.</summary>
    public Counter ChunksStored { get; }

    /// <summary><c>dropbox_storage_chunks_deduplicated_total</c>.</summary>
    public Counter ChunksDeduplicated { get; }

    /// <summary><c>dropbox_storage_bytes_in_total</c>.</summary>
    public Counter BytesIn { get; }

    /// <summary><c>dropbox_storage_bytes_out_total</c>.</summary>
    public Counter BytesOut { get; }

    /// <summary><c>dropbox_storage_puts_refused_total</c>.</summary>
    public Counter PutsRefused { get; }
}
