using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.StorageNode.Engine;

/// <summary>Reads: lookups in the index and checked reads of records from the segments.</summary>
public sealed partial class ChunkEngine
{
    /// <inheritdoc />
    public bool Contains(ChunkId id) => _index.TryGet(id, out _);

    /// <inheritdoc />
    public void Contains(ReadOnlySpan<ChunkId> ids, Span<bool> present) => _index.Contains(ids, present);

    /// <inheritdoc />
    public bool TryGetLocation(ChunkId id, out ChunkLocation location) => _index.TryGet(id, out location);

    /// <inheritdoc />
    public bool IsQuarantined(ChunkId id) => _quarantined.ContainsKey(id);

    /// <inheritdoc />
    public IReadOnlyList<ChunkId> QuarantinedIds() => _quarantined.Keys.ToList();

    /// <inheritdoc />
    public ValueTask<StoredChunk?> ReadAsync(ChunkId id, CancellationToken cancellationToken)
    {
        // A concurrent compaction may retire the segment between lookup and read: look up again.
        for (var attempt = 0; attempt < 4; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!_index.TryGet(id, out var location))
            {
                if (_quarantined.ContainsKey(id))
                {
                    throw new DropboxException(ErrorKind.DataLoss, $"Chunk {id} was found corrupt and is quarantined; it will not be served. Upload it again to heal it.");
                }

                return ValueTask.FromResult<StoredChunk?>(null);
            }

            var chunk = ReadAt(id, location);
            if (chunk is not null)
            {
                return ValueTask.FromResult<StoredChunk?>(chunk);
            }
        }

        throw new DropboxException(ErrorKind.Unavailable, $"Chunk {id.ToShortString()} kept moving during compaction; retry.");
    }

    /// <summary>Reads and checks a record; null if its segment was retired meanwhile; DataLoss if it is corrupt.</summary>
    private StoredChunk? ReadAt(ChunkId id, ChunkLocation location) =>
        _segments.TryGetValue(location.Segment, out var segment) ? segment.TryRead(id, location) : null;
}
