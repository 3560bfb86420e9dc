namespace Dropbox.Shared.Pipeline;

/// <summary>How a <see cref="ChunkPipeline"/> runs. Immutable; change with <c>with</c>.</summary>
public sealed record PipelineOptions
{
    private readonly int _parallelism = Environment.ProcessorCount;
    private readonly int? _maxInFlight;
    private readonly int _readSize = 1024 * 1024;

    /// <summary>Worker tasks that hash and compress chunks (default: one per core).</summary>
    public int Parallelism
    {
        get => _parallelism;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _parallelism = value;
        }
    }

    /// <summary>Try LZ4 on each chunk and keep it where it pays (default true). When false every chunk is raw.</summary>
    public bool Compress { get; init; } = true;

    /// <summary>
    /// Hand out each chunk's plain and stored bytes (default true). When false only ids, sizes and encodings
    /// come out, and buffers are recycled as soon as a chunk is hashed.
    /// </summary>
    public bool KeepData { get; init; } = true;

    /// <summary>
    /// Chunks cut but not yet taken by the consumer, which bounds memory to about this many maximum-size chunks
    /// plus one read block (default <c>2 * Parallelism + 2</c>); a file cut in segments holds up to three segment
    /// blocks instead (see <see cref="ChunkPipeline"/>).
    /// </summary>
    public int MaxInFlight
    {
        get => _maxInFlight ?? (2 * Parallelism) + 2;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _maxInFlight = value;
        }
    }

    /// <summary>Bytes asked of the input stream per read (default 1 MiB); reads fill a block of several chunks.</summary>
    public int ReadSize
    {
        get => _readSize;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _readSize = value;
        }
    }

    /// <summary>
    /// A file at least this long (from its position) is cut in parallel segments (<see cref="SegmentedFileCutter"/>) when
    /// there are two workers or more; shorter inputs, and streams other than seekable files, are cut sequentially.
    /// </summary>
    internal long SegmentedCutThreshold { get; init; } = 64L * 1024 * 1024;

    /// <summary>Bytes per segment of a parallel cut (raised to the chunker's maximum chunk size if smaller).</summary>
    /// <remarks>
    /// 12 MiB: a segment's block holds it plus one maximum-size chunk (4 MiB by default), a 16 MiB array, the pool's size
    /// class for the stream cutter's blocks too. Longer segments spend less on re-cutting each segment's first chunks but
    /// hold more memory per segment read ahead.
    /// </remarks>
    internal int SegmentSize { get; init; } = 12 * 1024 * 1024;

    /// <summary>The defaults.</summary>
    public static PipelineOptions Default { get; } = new();
}
