namespace Dropbox.Shared.Chunking;

/// <summary>
/// Size limits for content-defined chunking. Every chunk but a file's last is at least
/// <see cref="MinSize"/> and at most <see cref="MaxSize"/> bytes; cuts average near <see cref="AvgSize"/>.
/// </summary>
public sealed record ChunkerOptions
{
    /// <summary>The smallest minimum size accepted (the gear hash looks at a 64-byte window).</summary>
    public const int SmallestMinSize = 64;

    /// <summary>Validates and creates the limits.</summary>
    /// <param name="MinSize">No cut before this many bytes (except at the end of the data).</param>
    /// <param name="AvgSize">Target average chunk size.</param>
    /// <param name="MaxSize">A cut is forced at this many bytes.</param>
    /// <exception cref="ArgumentOutOfRangeException">Unless 64 &lt;= min &lt;= avg &lt;= max &lt;= 1 GiB.</exception>
    public ChunkerOptions(int MinSize, int AvgSize, int MaxSize)
    {
        if (MinSize < SmallestMinSize)
        {
            throw new ArgumentOutOfRangeException(nameof(MinSize), MinSize, $"The minimum chunk size must be at least {SmallestMinSize} bytes.");
        }

        if (AvgSize < MinSize)
        {
            throw new ArgumentOutOfRangeException(nameof(AvgSize), AvgSize, $"The average chunk size must be at least the minimum ({MinSize}).");
        }

        if (MaxSize < AvgSize)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxSize), MaxSize, $"The maximum chunk size must be at least the average ({AvgSize}).");
        }

        if (MaxSize > 1 << 30)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxSize), MaxSize, "The maximum chunk size must be at most 1 GiB.");
        }

        this.MinSize = MinSize;
        this.AvgSize = AvgSize;
        this.MaxSize = MaxSize;
    }

    /// <summary>256 KiB / 1 MiB / 4 MiB.</summary>
    public static ChunkerOptions Default { get; } = new(256 * 1024, 1024 * 1024, 4 * 1024 * 1024);

    /// <summary>No cut before this many bytes (except at the end of the data).</summary>
    public int MinSize { get; }

    /// <summary>Target average chunk size.</summary>
    public int AvgSize { get; }

    /// <summary>A cut is forced at this many bytes.</summary>
    public int MaxSize { get; }

    /// <summary>Deconstructs into (min, avg, max).</summary>
    public void Deconstruct(out int minSize, out int avgSize, out int maxSize)
    {
        minSize = MinSize;
        avgSize = AvgSize;
        maxSize = MaxSize;
    }
}
