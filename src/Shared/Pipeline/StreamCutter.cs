using Dropbox.Shared.Chunking;

namespace Dropbox.Shared.Pipeline;

/// <summary>
/// Reads a stream into pooled blocks and cuts it. A chunk is cut as soon as a whole maximum-size chunk (or the
/// end of the input) is in the block, so the chunker never scans bytes twice, and bytes are cut and hashed
/// while the copy that brought them in is still in cache. Chunks point into their block (reference-counted).
/// </summary>
/// <remarks>
/// A <see cref="FileStream"/> is read synchronously, on the worker that holds the cutting turn: on Linux an
/// asynchronous file read is a synchronous read handed to another thread-pool thread, so every 1 MiB read cost a
/// hand-off (a wake-up and two context switches) while the turn waited for a third thread on a 2-core machine. A
/// page-cache read of a block blocks the worker for well under a millisecond and the other workers keep hashing.
/// Other streams (sockets, test streams) are read asynchronously.
/// The first block is sized to the input when the stream knows its length (a 300-byte file gets a 512-byte
/// block, not a 16 MiB one: renting a full block per small file turned a 100,000-file upload into gigabytes
/// of large-object garbage). A block is only replaced when it is full, so an input longer than it claimed
/// (a file that grows while read) still cuts correctly.
/// </remarks>
internal sealed class StreamCutter : ICutter
{
    /// <summary>The smallest first block worth renting.</summary>
    internal const int MinFirstBlock = 4096;

    private readonly Stream _input;
    private readonly IChunker _chunker;
    private readonly int _blockSize;
    private readonly int _readSize;
    private readonly bool _syncReads;
    private PooledBlock? _block;
    private int _start;
    private int _filled;
    private bool _eof;
    private long _offset;

    /// <param name="startOffset">The input position of the stream's first byte read here (the offset of its first chunk).</param>
    public StreamCutter(Stream input, IChunker chunker, int blockSize, int readSize, long startOffset = 0)
    {
        if (blockSize < 2 * chunker.MaxChunkSize)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, $"A block must hold at least two maximum-size chunks ({chunker.MaxChunkSize} bytes each).");
        }

        _input = input;
        _chunker = chunker;
        _blockSize = blockSize;
        _readSize = Math.Min(readSize, blockSize);
        _syncReads = input is FileStream;
        _offset = startOffset;
    }

    public async ValueTask<ChunkWork?> NextAsync(CancellationToken token)
    {
        var max = _chunker.MaxChunkSize;
        _block ??= new PooledBlock(FirstBlockSize());
        while (!_eof && _filled - _start < max)
        {
            var capacity = _block.Array.Length;
            if (_filled == capacity)
            {
                // Full with less than a maximum-size chunk uncut: carry the uncut tail into a fresh full-size block.
                var next = new PooledBlock(_blockSize);
                var tail = _filled - _start;
                next.Populate(0, tail);
                _block.Array.AsSpan(_start, tail).CopyTo(next.Array);
                _block.Release();
                _block = next;
                _start = 0;
                _filled = tail;
                capacity = next.Array.Length;
            }

            var into = _block.Array.AsMemory(_filled, Math.Min(_readSize, capacity - _filled));

            // The bytes about to be read into: faulted in at once where the block is fresh memory (HugePageArrays.Populate).
            _block.Populate(_filled, into.Length);
            int read;
            if (_syncReads)
            {
                token.ThrowIfCancellationRequested();
                read = _input.Read(into.Span);
            }
            else
            {
                read = await _input.ReadAsync(into, token).ConfigureAwait(false);
            }

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

    /// <summary>Nothing to help with: a stream is read in order.</summary>
    public bool TryHelp(CancellationToken token) => false;

    /// <summary>Always: It reads what it needs itself.</summary>
    public bool CanCutNow => true;

    public void Dispose()
    {
        _block?.Release();
        _block = null;
    }

    /// <summary>The whole input plus one byte (to see the end without a second block) when the stream knows its length, else a full block.</summary>
    private int FirstBlockSize()
    {
        try
        {
            if (_input.CanSeek)
            {
                var remaining = _input.Length - _input.Position;
                if (remaining >= 0 && remaining < _blockSize)
                {
                    return (int)Math.Max(MinFirstBlock, remaining + 1);
                }
            }
        }
        catch (NotSupportedException)
        {
        }

        return _blockSize;
    }
}
