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
}
