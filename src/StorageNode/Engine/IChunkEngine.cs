using System.Buffers;
using Dropbox.Shared.Chunks;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// The chunk engine: durable append-only storage of chunk bytes with an id index. Knows nothing of tokens,
/// the wire or SHA-256 verification; it trusts its caller about ids and guards its own bytes with XxHash3.
/// </summary>
public interface IChunkEngine : IAsyncDisposable
{
    /// <summary>Stores a chunk durably (group commit) unless it is already held; completes only once durable.</summary>
    ValueTask<AppendOutcome> AppendAsync(ChunkId id, ChunkEncoding encoding, int plainLength, ReadOnlyMemory<byte> stored, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="AppendAsync(ChunkId, ChunkEncoding, int, ReadOnlyMemory{byte}, CancellationToken)"/> for stored bytes in
    /// pieces (an HTTP body as the connection's pipe holds it), copied straight into the segment's staging buffer. The
    /// caller keeps them unchanged until the call completes; after that the engine holds no reference to them.
    /// </summary>
    ValueTask<AppendOutcome> AppendAsync(ChunkId id, ChunkEncoding encoding, int plainLength, ReadOnlySequence<byte> stored, CancellationToken cancellationToken);

    /// <summary>True if the index holds the chunk.</summary>
    bool Contains(ChunkId id);

    /// <summary>Batch existence check.</summary>
    void Contains(ReadOnlySpan<ChunkId> ids, Span<bool> present);

    /// <summary>The chunk's location, if held.</summary>
    bool TryGetLocation(ChunkId id, out ChunkLocation location);

    /// <summary>Reads a chunk's stored bytes, checking them against the record's checksum; null if not held.</summary>
    ValueTask<StoredChunk?> ReadAsync(ChunkId id, CancellationToken cancellationToken);

    /// <summary>Marks a chunk dead (durably); false if it was not held.</summary>
    ValueTask<bool> DeleteAsync(ChunkId id, CancellationToken cancellationToken);

    /// <summary>Re-checks every stored chunk with <paramref name="verify"/>; corrupt ones are quarantined.</summary>
    Task<ScrubResult> ScrubAsync(Func<ChunkId, StoredChunk, bool> verify, CancellationToken cancellationToken);

    /// <summary>
    /// Re-checks one chunk as a read found it (its record checksum, then <paramref name="verify"/>) and quarantines it
    /// if corrupt, as a scrub would; true if it was quarantined now.
    /// </summary>
    Task<bool> QuarantineIfCorruptAsync(ChunkId id, Func<ChunkId, StoredChunk, bool> verify, CancellationToken cancellationToken);

    /// <summary>Rewrites closed segments that are mostly dead; returns how many were rewritten.</summary>
    Task<int> CompactAsync(CancellationToken cancellationToken);

    /// <summary>Checkpoints the index so the next start replays less.</summary>
    Task CheckpointAsync(CancellationToken cancellationToken);

    /// <summary>True if the chunk was quarantined as corrupt and not stored again since.</summary>
    bool IsQuarantined(ChunkId id);

    /// <summary>Every chunk quarantined as corrupt and not stored again since (a copy, for the node's corrupt reports).</summary>
    IReadOnlyList<ChunkId> QuarantinedIds();

    /// <summary>
    /// Holds compaction and scrub off and lists the segment files with their durable lengths, for a snapshot of the
    /// store (online backup); dispose the hold as soon as the files are taken.
    /// </summary>
    Task<SegmentHold> HoldSegmentsAsync(CancellationToken cancellationToken);

    /// <summary>Counters.</summary>
    EngineStats GetStats();

    /// <summary>Why the engine stopped taking writes (a failed fsync), or null while it takes them.</summary>
    Exception? WriteFault { get; }
}
