namespace Dropbox.Shared.Chunking;

/// <summary>Cuts every <c>size</c> bytes. Cheap, but one inserted byte shifts every later chunk.</summary>
public sealed class FixedSizeChunker : IChunker
{
    /// <summary>Creates a chunker cutting every <paramref name="size"/> bytes (default 5 MiB).</summary>
    public FixedSizeChunker(int size = 5 * 1024 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        MaxChunkSize = size;
    }

    /// <inheritdoc />
    public int MaxChunkSize { get; }

    /// <inheritdoc />
    public int FindBoundary(ReadOnlySpan<byte> data, bool isFinalBlock)
    {
        if (data.Length >= MaxChunkSize)
        {
            return MaxChunkSize;
        }

        return isFinalBlock ? data.Length : 0;
    }
}
