namespace Dropbox.StorageNode.Engine.Files;

/// <summary>An open file of the engine: positional reads and writes, and an fsync.</summary>
public interface IEngineFile : IDisposable
{
    /// <summary>Current length in bytes.</summary>
    long Length { get; }

    /// <summary>Reads at an offset; returns the bytes read (fewer at the end of the file).</summary>
    int Read(Span<byte> destination, long offset);

    /// <summary>Writes at an offset, extending the file if needed.</summary>
    void Write(ReadOnlySpan<byte> source, long offset);

    /// <summary>Cuts or extends the file.</summary>
    void SetLength(long length);

    /// <summary>Makes the file's bytes durable (fsync).</summary>
    void Flush();

    /// <summary>
    /// Turns direct (page-cache bypassing) writes on or off for this handle; false if the platform or file system
    /// refuses. Direct writes must be block-aligned in offset and length.
    /// </summary>
    bool TrySetDirect(bool enable);
}
