using System.Buffers;
using System.Runtime.InteropServices;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Memory;
using Dropbox.StorageNode.Engine.Files;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dropbox.StorageNode.Engine;

/// <summary>
/// One append-only segment file. Readers take a reference before reading so compaction can retire a segment
/// while a read is in flight: the handles close when the last reader lets go.
/// </summary>
/// <remarks>
/// With <see cref="EngineOptions.DirectReads"/> on (the default), a record of <see cref="DirectReadMinBytes"/>
/// or more is read through a second handle with <c>O_DIRECT</c> on, into
/// a pinned pooled buffer: the device writes the bytes where they are served from, with no copy out of the page cache.
/// Profiled (a second device downloading 1 GiB from a <c>standalone</c> appliance), the buffered read's copy out of the
/// page cache was 46% of the appliance's CPU (1.5 s): segments are written with <c>O_DIRECT</c>, so every read found
/// cold pages, each one freshly allocated for the cache; on the virtual machines measured such a page costs its first
/// toucher far more than the copy itself. Smaller records keep buffered reads, whose read-ahead serves their neighbours
/// (the many small files of one upload lie side by side).
/// </remarks>
internal sealed class Segment
{
    /// <summary>Records of this many bytes or more (header included) are read directly where the file system allows.</summary>
    public const int DirectReadMinBytes = 128 * 1024;

    /// <summary>Alignment of a direct read's file offset, length and memory.</summary>
    private const int DirectBlock = Dropbox.Shared.IO.DirectIo.BlockSize;

    /// <summary>
    /// Buffers of direct reads: pinned (their address must not move between aligning and reading), pooled so the ones in
    /// use at once stay resident. At most 8 of each power-of-two size are kept, up to 16 MiB (a 4 MiB chunk's record
    /// takes an 8 MiB one): at most ~128 MiB held after bursts of large reads; a larger record's buffer is not kept. With 4
    /// kept (until stop 55), a burst of 8 held reads (a client's downloads hold 4 at once per call, several calls run, and
    /// re-replication pushes read beside them) allocated 4 fresh pinned buffers each time (review s55-dr: 320 MiB over 10
    /// bursts of 8 reads of 4 MiB, where the buffered path's shared pool allocated none), and fresh memory is the cost the
    /// direct reads are there to avoid.
    /// </summary>
    internal static ArrayPool<byte> DirectReadBuffers { get; } = new PinnedArrayPool(maxArrayLength: 16 * 1024 * 1024, maxArraysPerBucket: 8, smallLimit: 0);

    private int _refs = 1;
    private int _retired;

    // The direct-read handle; null where the file system refused O_DIRECT, or once a direct read failed where a
    // buffered one may not (then it is closed with the segment).
    private IEngineFile? _direct;
    private readonly IEngineFile? _directHandle;
    private readonly ILogger _logger;

    /// <param name="logger">Where turning direct reads off after a failed or mismatching direct read is reported (once).</param>
    public Segment(int number, string path, IEngineFile handle, long length, SegmentFormat format = SegmentFormat.Framed, IEngineFile? directReads = null, ILogger? logger = null)
    {
        _logger = logger ?? NullLogger.Instance;
        Number = number;
        Path = path;
        Handle = handle;
        Length = length;
        Format = format;
        _direct = directReads;
        _directHandle = directReads;
    }

    /// <summary>
    /// A second handle to <paramref name="path"/> with <c>O_DIRECT</c> on, for the reads of large records; null where the
    /// file system or platform refuses it (or <paramref name="enabled"/> is false).
    /// </summary>
    public static IEngineFile? OpenDirectReads(IEngineFiles files, string path, bool enabled)
    {
        if (!enabled)
        {
            return null;
        }

        var handle = files.Open(path, FileMode.Open);
        if (handle.TrySetDirect(enable: true))
        {
            return handle;
        }

        handle.Dispose();
        return null;
    }


    public int Number { get; }

    /// <summary>True while large records are read through the <c>O_DIRECT</c> handle (not refused, not turned off by a failed read).</summary>
    public bool ReadsDirectly => Volatile.Read(ref _direct) is not null;

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
            _directHandle?.Dispose();
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

        try
        {
            var length = SegmentRecord.HeaderSize + location.StoredLength;
            var triedDirect = false;
            if (length >= DirectReadMinBytes && Volatile.Read(ref _direct) is { } direct)
            {
                if (TryReadDirect(direct, id, location, length) is { } chunk)
                {
                    return chunk;
                }

                triedDirect = true;
            }

            var buffer = ArrayPool<byte>.Shared.Rent(length);
            int read;
            try
            {
                read = Handle.ReadFully(buffer.AsSpan(0, length), location.Offset);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }

            if (!IsValid(id, location, buffer.AsSpan(0, Math.Min(read, length)), read))
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw new DropboxException(ErrorKind.DataLoss, $"Chunk {id} is corrupt on disk ({location}): its checksum does not match, so it is not served. Run scrub to quarantine it and upload it again.");
            }

            if (triedDirect)
            {
                // The direct read failed or disagreed where the buffered one found the record whole: this file system's
                // direct reads are not to be trusted, so this segment reads through the page cache from now on.
                StopDirectReads($"a direct read of the record at offset {location.Offset} did not check out where a buffered read found it whole", null);
            }

            return new StoredChunk(buffer, SegmentRecord.HeaderSize, location.StoredLength, location.Encoding, location.PlainLength, ArrayPool<byte>.Shared);
        }
        finally
        {
            Release();
        }
    }

    /// <summary>
    /// Reads the record of <paramref name="length"/> bytes at <paramref name="location"/> through the direct handle: the
    /// aligned blocks around it into an aligned window of a pinned buffer. Null if the read failed or the record did not
    /// check out: the caller reads it again buffered, so only a record both reads find corrupt is reported as lost.
    /// </summary>
    private StoredChunk? TryReadDirect(IEngineFile direct, ChunkId id, ChunkLocation location, int length)
    {
        var start = location.Offset - (location.Offset % DirectBlock);
        var skip = (int)(location.Offset - start);
        var span = (skip + length + DirectBlock - 1) / DirectBlock * DirectBlock;
        var buffer = DirectReadBuffers.Rent(span + DirectBlock);
        var address = (long)Marshal.UnsafeAddrOfPinnedArrayElement(buffer, 0);
        var origin = (int)((DirectBlock - (address % DirectBlock)) % DirectBlock);
        var read = 0;
        try
        {
            // Whole blocks until the span is read; a short count means the file ends there (a closed segment is cut to its
            // last record), and a read from an unaligned offset would be refused.
            while (read < span)
            {
                var n = direct.Read(buffer.AsSpan(origin + read, span - read), start + read);
                read += n;
                if (n == 0 || n % DirectBlock != 0)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // EINVAL from a file system that took O_DIRECT but not this read, or an error the buffered read that follows
            // meets again and reports: either way direct reads stop for this segment.
            DirectReadBuffers.Return(buffer);
            StopDirectReads($"a direct read of the record at offset {location.Offset} failed", e);
            return null;
        }
        catch
        {
            DirectReadBuffers.Return(buffer);
            throw;
        }

        // A short read (the file ends inside the record) counts as the record's bytes read so far, as a buffered one.
        read = Math.Clamp(read - skip, 0, length);
        if (!IsValid(id, location, buffer.AsSpan(origin + skip, read), read))
        {
            DirectReadBuffers.Return(buffer);
            return null;
        }

        return new StoredChunk(buffer, origin + skip + SegmentRecord.HeaderSize, location.StoredLength, location.Encoding, location.PlainLength, DirectReadBuffers);
    }

    /// <summary>
    /// Turns direct reads off for good; only the reader that turns them off logs it, so a segment says so once however many
    /// reads fail at the same time.
    /// </summary>
    private void StopDirectReads(string reason, Exception? failure)
    {
        if (Interlocked.Exchange(ref _direct, null) is not null)
        {
            try
            {
                EngineLog.SegmentDirectReadsOff(_logger, Number, reason, failure);
            }
            catch (Exception)
            {
                // A log sink that throws must not fail the read the buffered fallback serves (review s56).
            }
        }
    }

    /// <summary>True if <paramref name="record"/> (<paramref name="read"/> bytes read) is the whole, intact record of the chunk.</summary>
    private bool IsValid(ChunkId id, ChunkLocation location, ReadOnlySpan<byte> record, int read)
    {
        RecordHeader header = default;
        return read == SegmentRecord.HeaderSize + location.StoredLength
            && (Format == SegmentFormat.Framed
                ? SegmentRecord.TryRead(record, out header)
                : LegacySegmentRecord.TryReadHeader(record, out header) && LegacySegmentRecord.PayloadMatches(header, record[SegmentRecord.HeaderSize..]))
            && header.Kind == RecordKind.Chunk
            && header.Id == id
            && header.StoredLength == location.StoredLength;
    }
}
