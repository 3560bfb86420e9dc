namespace Dropbox.Shared.Chunking;

/// <summary>Cuts a byte stream into chunks, one boundary at a time.</summary>
public interface IChunker
{
    /// <summary>No chunk is longer than this; callers size their buffers from it.</summary>
    int MaxChunkSize { get; }

    /// <summary>
    /// Length of the next chunk starting at <c>data[0]</c>. If <paramref name="isFinalBlock"/> is false and no
    /// boundary can be decided yet (data shorter than <see cref="MaxChunkSize"/> and no cut point found), returns 0,
    /// meaning "give me more data". If <paramref name="isFinalBlock"/> is true, always returns a value &gt; 0 for
    /// non-empty data. The answer depends only on the bytes, never on how they were split into reads.
    /// </summary>
    int FindBoundary(ReadOnlySpan<byte> data, bool isFinalBlock);
}
