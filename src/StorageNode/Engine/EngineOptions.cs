using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Engine;

/// <summary>Tuning of the chunk engine. Immutable; use <c>with</c> to change a copy.</summary>
public sealed record EngineOptions
{
    /// <summary>Root directory: segments, index and quarantine live under it.</summary>
    public required string Directory { get; init; }

    /// <summary>
    /// The device the segments, positions file and quarantine live on: the real file system, or a
    /// <see cref="MemoryFiles"/> that can lose power (crash tests).
    /// </summary>
    public IEngineFiles Files { get; init; } = DiskFiles.Instance;

    /// <summary>
    /// Real folder of the FASTER index (its log and checkpoints, written by FASTER itself, not through
    /// <see cref="Files"/>); default <c>index/faster</c> under <see cref="Directory"/>.
    /// </summary>
    public string? IndexDirectory { get; init; }

    /// <summary>A segment is closed and a new one started once it would exceed this size.</summary>
    public long SegmentMaxBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>At most this many payload bytes go into one group commit (one fsync).</summary>
    public long MaxBatchBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Pending writes queued ahead of the writer before callers wait (back-pressure).</summary>
    public int WriteQueueCapacity { get; init; } = 256;

    /// <summary>FASTER hash index size in bytes.</summary>
    public long IndexSizeBytes { get; init; } = 1L << 24;

    /// <summary>FASTER in-memory log size in bytes.</summary>
    public long IndexMemoryBytes { get; init; } = 1L << 27;

    /// <summary>FASTER page size in bytes.</summary>
    public long IndexPageSizeBytes { get; init; } = 1L << 22;

    /// <summary>How often the index is checkpointed in the background (zero disables the timer).</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Append segments with O_DIRECT where the OS and file system allow it (falls back to buffered writes by
    /// itself, and logs it once); false forces buffered writes (the storage node's <c>--direct-io off</c>).
    /// </summary>
    public bool DirectWrites { get; init; } = true;

    /// <summary>
    /// Read records of <see cref="Segment.DirectReadMinBytes"/> or more with O_DIRECT where the OS and file system allow
    /// it (falls back to buffered reads by itself, and logs it: once at open, or once per segment after a failed or
    /// mismatching direct read); false reads every record through the page cache (the storage node's <c>--direct-io off</c>). On by default again
    /// since stop 55 (off since stop 42, when the integration test of a node killed mid-upload timed out waiting for
    /// re-replication in two of four CI runs: that test's own races, fixed since, are the likely cause; see the README).
    /// </summary>
    public bool DirectReads { get; init; } = true;

    /// <summary>A closed segment whose dead share is at least this is rewritten by compaction.</summary>
    public double CompactionDeadFraction { get; init; } = 0.5;
}
