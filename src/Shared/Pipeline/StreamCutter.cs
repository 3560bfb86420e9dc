using Dropbox.Shared.Chunking;

namespace Dropbox.Shared.Pipeline;

/// <summary>
/// Reads a stream into pooled blocks and cuts it. A chunk is cut as soon as a whole maximum-size chunk (or the
/// end of the input) is in the block, so the chunker never scans bytes twice, and bytes are cut and hashed
/// while the copy that brought them in is still in cache. Chunks point into their block (reference-counted).
/// </summary>
internal sealed class StreamCutter : ICutter
{
    private readonly Stream _input;
    private readonly IChunker _chunker;
    private readonly int _blockSize;
    private readonly int _readSize;
    private PooledBlock? _block;
    private int _start;
    private int _filled;
    private bool _eof;
    private long _offset;

    public StreamCutter(Stream input, IChunker chunker, int blockSize, int readSize)
    {
        _input = input;
        _chunker = chunker;
        _blockSize = blockSize;
        _readSize = Math.Min(readSize, blockSize);
    }

    public async ValueTask<ChunkWork?> NextAsync(CancellationToken token)
    {
        var max = _chunker.MaxChunkSize;
        _block ??= new PooledBlock(_blockSize);
        while (!_eof && _filled - _start < max)
        {
            if (_blockSize - _start < max)
            {
                // The next chunk might not fit: carry the uncut tail into a fresh block.
                var next = new PooledBlock(_blockSize);
                var tail = _filled - _start;
                _block.Array.AsSpan(_start, tail).CopyTo(next.Array);
                _block.Release();
                _block = next;
                _start = 0;
                _filled = tail;
            }

            var read = await _input.ReadAsync(_block.Array.AsMemory(_filled, Math.Min(_readSize, _blockSize - _filled)), token).ConfigureAwait(false);
            _eof = read == 0;
            _filled += read;
        }

        if (_start == _filled)
        {
            return null; // end of input, everything cut
        }

        var n = _chunker.FindBoundary(_block.Array.AsSpan(_start, _filled - _start), _eof);
        if (n <= 0 || n > _filled - _start)
        {
            throw new InvalidOperationException($"{_chunker.GetType().Name} returned {n} for {_filled - _start} bytes (final: {_eof}).");
        }

        _block.AddReference();
        var item = new ChunkWork(_block, _block.Array.AsMemory(_start, n), _offset);
        _start += n;
        _offset += n;
        return item;
    }

    public void Dispose()
    {
        _block?.Release();
        _block = null;
    }
}
