using System.Buffers;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// One append-only segment file. Readers take a reference before reading so compaction can retire a segment
/// while a read is in flight: the handle closes when the last reader lets go.
/// </summary>
internal sealed class Segment
{
    private int _refs = 1;
    private int _retired;

    public Segment(int number, string path, IEngineFile handle, long length, SegmentFormat format = SegmentFormat.Framed)
    {
        Number = number;
        Path = path;
        Handle = handle;
        Length = length;
        Format = format;
    }

    public int Number { get; }

    /// <summary>How its records are written: every new segment is framed; a legacy one is read in place.</summary>
    public SegmentFormat Format { get; }

    public string Path { get; }

    /// <summary>Handle for reads and fsync (buffered).</summary>
    public IEngineFile Handle { get; }

    /// <summary>The writer's appender while this is the active segment; null once it is closed.</summary>
    public SegmentAppender? Appender { get; set; }

    /// <summary>Bytes written and made durable (only the writer changes it).</summary>
    public long Length { get; set; }

    /// <summary>Bytes of records the index points at (writer-maintained).</summary>
    public long LiveBytes;

    /// <summary>Number of chunks the index points at in this segment (writer-maintained).</summary>
    public long LiveCount;

    /// <summary>
    /// The file name of segment <paramref name="number"/> in <paramref name="format"/>. Framed segments have their own
    /// extension so that an older build, which lists only <c>.seg</c> files, ignores them instead of reading them as
    /// format 1 and cutting them to nothing as a torn tail (downgrading is not supported, but must not destroy data).
    /// </summary>
    public static string FileName(int number, SegmentFormat format = SegmentFormat.Framed) =>
        $"{number:D8}{Extension(format)}";

    /// <summary>The file extension of a segment in <paramref name="format"/>.</summary>
    public static string Extension(SegmentFormat format) => format == SegmentFormat.Legacy ? LegacyExtension : FramedExtension;

    /// <summary>Format 1 segments (read in place).</summary>
    public const string LegacyExtension = ".seg";

    /// <summary>Format 2 segments (every new one).</summary>
    public const string FramedExtension = ".fseg";

    public bool TryAcquire()
    {
        while (true)
        {
            var refs = Volatile.Read(ref _refs);
            if (refs == 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _refs, refs + 1, refs) == refs)
            {
                return true;
            }
        }
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _refs) == 0)
        {
            Handle.Dispose();
        }
    }

    /// <summary>Drops the owner's reference; the handle closes once no reader holds it.</summary>
    public void Retire()
    {
        if (Interlocked.Exchange(ref _retired, 1) == 0)
        {
            Release();
        }
    }

    /// <summary>
    /// Reads and checks the chunk record at <paramref name="location"/> in this segment: null if the segment was retired
    /// meanwhile; DataLoss if the record is corrupt (checksum, kind, id or length do not match).
    /// </summary>
    public StoredChunk? TryRead(ChunkId id, ChunkLocation location)
    {
        if (!TryAcquire())
        {
            return null;
        }

        var length = SegmentRecord.HeaderSize + location.StoredLength;
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        var ok = false;
        try
        {
            var read = Handle.ReadFully(buffer.AsSpan(0, length), location.Offset);
            var record = buffer.AsSpan(0, length);
            RecordHeader header = default;
            if (read != length
                || !(Format == SegmentFormat.Framed
                    ? SegmentRecord.TryRead(record, out header)
                    : LegacySegmentRecord.TryReadHeader(record, out header) && LegacySegmentRecord.PayloadMatches(header, record[SegmentRecord.HeaderSize..]))
                || header.Kind != RecordKind.Chunk
                || header.Id != id
                || header.StoredLength != location.StoredLength)
            {
                throw new DropboxException(ErrorKind.DataLoss, $"Chunk {id} is corrupt on disk ({location}): its checksum does not match, so it is not served. Run scrub to quarantine it and upload it again.");
            }

            ok = true;
            return new StoredChunk(buffer, SegmentRecord.HeaderSize, location.StoredLength, location.Encoding, location.PlainLength);
        }
        finally
        {
            Release();
            if (!ok)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}
