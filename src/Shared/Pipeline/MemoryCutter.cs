using Dropbox.Shared.Chunking;

namespace Dropbox.Shared.Pipeline;

/// <summary>Cuts bytes already in memory; chunks are slices of the input, nothing is copied.</summary>
internal sealed class MemoryCutter : ICutter
{
    private readonly ReadOnlyMemory<byte> _input;
    private readonly IChunker _chunker;
    private int _offset;

    public MemoryCutter(ReadOnlyMemory<byte> input, IChunker chunker)
    {
        _input = input;
        _chunker = chunker;
    }

    public ValueTask<ChunkWork?> NextAsync(CancellationToken token)
    {
        if (_offset == _input.Length)
        {
            return ValueTask.FromResult<ChunkWork?>(null);
        }

        var rest = _input.Span[_offset..];
        var n = _chunker.FindBoundary(rest, isFinalBlock: true);
        if (n <= 0 || n > rest.Length)
        {
            throw new InvalidOperationException($"{_chunker.GetType().Name} returned {n} for the final {rest.Length} bytes.");
        }

        var item = new ChunkWork(null, _input.Slice(_offset, n), _offset);
        _offset += n;
        return ValueTask.FromResult<ChunkWork?>(item);
    }

    /// <summary>Nothing to help with: cutting memory needs no reads to overlap.</summary>
    public bool TryHelp(CancellationToken token) => false;

    /// <summary>Always: The bytes are all there.</summary>
    public bool CanCutNow => true;

    public void Dispose()
    {
    }
}
