using System.Buffers;
using System.Runtime.InteropServices;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.IO;
using Dropbox.StorageNode.Engine.Files;

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

    /// <summary>
    /// Records from this size on are read with O_DIRECT (a second handle on the segment, <see cref="Segment.DirectReads"/>):
    /// the segments are appended with O_DIRECT, so a buffered read of a large chunk fetched it from the device into the
    /// page cache and copied it from there (15.6% of the appliance's CPU in a download); a direct read lands in the
    /// buffer at once. Smaller records stay buffered: several share a block, and read-ahead serves their neighbours.
    /// </summary>
    public const int DirectReadMinBytes = 256 * 1024;

    private long _directReadCount;

    /// <summary>Records read with O_DIRECT so far (tests).</summary>
    internal long DirectReadCount => Interlocked.Read(ref _directReadCount);

    /// <summary>
    /// Reads the <paramref name="length"/> bytes at <paramref name="offset"/> with the direct handle: the whole blocks
    /// around them into a block-aligned window of <paramref name="buffer"/> (pinned for the call), the record then at
    /// <paramref name="start"/>. Falls back to a buffered read when the direct one fails. Returns the record's bytes read.
    /// </summary>
    private static int ReadDirect(IEngineFile direct, IEngineFile buffered, byte[] buffer, int length, long offset, out int start, out bool wasDirect)
    {
        var first = offset / DirectIo.BlockSize * DirectIo.BlockSize;
        var skip = (int)(offset - first);
        var span = (skip + length + DirectIo.BlockSize - 1) / DirectIo.BlockSize * DirectIo.BlockSize;
        var pin = GCHandle.Alloc(buffer, GCHandleType.Pinned);
        try
        {
            var address = (long)pin.AddrOfPinnedObject();
            var origin = (int)((DirectIo.BlockSize - (address % DirectIo.BlockSize)) % DirectIo.BlockSize);
            start = origin + skip;
            wasDirect = true;
            try
            {
                // The file may end inside the last block: a short read there is fine once the record is whole.
                // Each read a whole number of blocks at an aligned place; one that ends short has met the end of the file.
                var got = 0;
                while (got < span)
                {
                    var n = direct.Read(buffer.AsSpan(origin + got, span - got), first + got);
                    got += Math.Max(0, n);
                    if (n <= 0 || n % DirectIo.BlockSize != 0)
                    {
                        break;
                    }
                }

                return Math.Clamp(got - skip, 0, length);
            }
            catch (IOException)
            {
                // The file system took the flag but refuses this read: read it buffered.
                start = 0;
                wasDirect = false;
                return buffered.ReadFully(buffer.AsSpan(0, length), offset);
            }
        }
        finally
        {
            pin.Free();
        }
    }

    /// <summary>Reads and checks a record; null if its segment was retired meanwhile; DataLoss if it is corrupt.</summary>
    private StoredChunk? ReadAt(ChunkId id, ChunkLocation location)
    {
        if (!_segments.TryGetValue(location.Segment, out var segment) || !segment.TryAcquire())
        {
            return null;
        }

        var length = SegmentRecord.HeaderSize + location.StoredLength;
        var direct = _directReads && length >= DirectReadMinBytes ? segment.DirectReads(_files) : null;
        var buffer = ArrayPool<byte>.Shared.Rent(direct is null ? length : length + (3 * DirectIo.BlockSize));
        var ok = false;
        try
        {
            var start = 0;
            var wasDirect = false;
            var read = direct is null
                ? segment.Handle.ReadFully(buffer.AsSpan(0, length), location.Offset)
                : ReadDirect(direct, segment.Handle, buffer, length, location.Offset, out start, out wasDirect);
            var record = buffer.AsSpan(start, length);
            RecordHeader header = default;
            if (read != length
                || !(segment.Format == SegmentFormat.Framed
                    ? SegmentRecord.TryRead(record, out header)
                    : LegacySegmentRecord.TryReadHeader(record, out header) && LegacySegmentRecord.PayloadMatches(header, record[SegmentRecord.HeaderSize..]))
                || header.Kind != RecordKind.Chunk
                || header.Id != id
                || header.StoredLength != location.StoredLength)
            {
                throw new DropboxException(ErrorKind.DataLoss, $"Chunk {id} is corrupt on disk ({location}): its checksum does not match, so it is not served. Run scrub to quarantine it and upload it again.");
            }

            ok = true;
            if (wasDirect)
            {
                Interlocked.Increment(ref _directReadCount);
            }

            return new StoredChunk(buffer, start + SegmentRecord.HeaderSize, location.StoredLength, location.Encoding, location.PlainLength);
        }
        finally
        {
            segment.Release();
            if (!ok)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}
