namespace Dropbox.StorageNode.Engine.Files;

/// <summary>An open file of <see cref="MemoryFiles"/>.</summary>
internal sealed class MemoryFile : IEngineFile
{
    private readonly MemoryFiles _files;
    private readonly MemoryNode _node;
    private bool _direct;

    public MemoryFile(MemoryFiles files, MemoryNode node)
    {
        _files = files;
        _node = node;
    }

    /// <inheritdoc />
    public long Length => _files.LengthOf(_node);

    /// <inheritdoc />
    public int Read(Span<byte> destination, long offset) => _files.Read(_node, destination, offset, _direct);

    /// <inheritdoc />
    public void Write(ReadOnlySpan<byte> source, long offset) => _files.Write(_node, source, offset, _direct);

    /// <inheritdoc />
    public void SetLength(long length) => _files.SetLength(_node, length);

    /// <inheritdoc />
    public void Flush() => _files.Flush(_node);

    /// <inheritdoc />
    public bool TrySetDirect(bool enable)
    {
        if (enable && !_files.SupportsDirect)
        {
            return false;
        }

        _direct = enable;
        return true;
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
