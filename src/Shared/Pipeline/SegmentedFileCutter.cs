using System.Runtime.ExceptionServices;
using Dropbox.Shared.Chunking;
using Microsoft.Win32.SafeHandles;

namespace Dropbox.Shared.Pipeline;

/// <summary>
/// Cuts a large file on several cores with exactly the boundaries of a sequential cut. The file is split into segments;
/// any worker with nothing to hash reads a segment with positional reads and cuts it as if a chunk began at its first
/// byte (<see cref="TryHelp"/>). The true cut, in order under the cutting turn, follows a segment's guessed boundaries
/// from the first one it lands on: a chunker's next boundary depends only on the bytes from the chunk's start
/// (<see cref="IChunker.FindBoundary"/>), so from a shared boundary on both cuts are the same. Until it lands on one
/// (after a segment's start, usually within a chunk or two) it cuts on its own from the segment's bytes.
/// </summary>
/// <remarks>
/// <para>Why: cutting sequentially held one core at about 0.4 s per GiB plus the page-cache copy while the other waited
/// for chunks to hash; a re-read of a known file (whose chunks are identified by a cheap keyed hash) was bound by it.</para>
/// <para>A segment's block holds its bytes and up to one maximum-size chunk past its end, so every chunk starting in
/// the segment lies in its block: no chunk is copied. At most <c>ahead</c> segments past the one being followed are
/// read, which bounds memory to that many blocks plus the blocks chunks still hold.</para>
/// <para>The end of the file, from the first chunk that might be its last (less than a maximum-size chunk before the
/// length seen at the start), is cut by a <see cref="StreamCutter"/> reading on to the end of the file, as the
/// sequential cut does: a file that grows while read is cut to its new end. A file found shorter than that length (a
/// short read) is handed to the stream cutter at the first chunk its segment could not decide, so it is cut as far as
/// it now goes. Callers detect either change, as they do for a sequential read.</para>
/// </remarks>
internal sealed class SegmentedFileCutter : ICutter
{
    private readonly FileStream _input;
    private readonly SafeFileHandle _handle;
    private readonly IChunker _chunker;
    private readonly int _max;
    private readonly int _segmentSize;
    private readonly int _capacity;
    private readonly int _ahead;

    /// <summary>Segments that may be read past the one the true cut is in.</summary>
    internal int Ahead => _ahead;
    private readonly int _tailBlockSize;
    private readonly int _readSize;
    private readonly long _base;
    private readonly long _length;
    private readonly CutSegment?[] _segments;
    private readonly ReadAt _readAt;
    private readonly Lock _lock = new();
    private volatile int _current;
    private volatile bool _stopped;
    private bool _disposed;
    private long _position;
    private int _boundary;
    private StreamCutter? _tail;

    /// <param name="input">A seekable file, read from its current position.</param>
    /// <param name="chunker">The chunker; its cuts must depend only on the bytes from a chunk's start.</param>
    /// <param name="segmentSize">Bytes per segment (at least one maximum-size chunk).</param>
    /// <param name="ahead">Segments that may be read past the one the true cut is in.</param>
    /// <param name="tailBlockSize">Block size of the stream cutter that cuts the end of the file.</param>
    /// <param name="readSize">Bytes per read.</param>
    /// <param name="readAt">The positional read (tests count or fail reads); default <see cref="RandomAccess.Read(SafeFileHandle, Span{byte}, long)"/>.</param>
    public SegmentedFileCutter(FileStream input, IChunker chunker, int segmentSize, int ahead, int tailBlockSize, int readSize, ReadAt? readAt = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentSize, chunker.MaxChunkSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(ahead, 1);
        _input = input;
        _handle = input.SafeFileHandle;
        _readAt = readAt ?? RandomAccess.Read;
        _chunker = chunker;
        _max = chunker.MaxChunkSize;
        _segmentSize = segmentSize;
        _capacity = checked(segmentSize + _max);
        _ahead = ahead;
        _tailBlockSize = tailBlockSize;
        _readSize = Math.Max(1, readSize);
        _base = input.Position;
        _length = Math.Max(0, input.Length - _base);
        _segments = new CutSegment?[(int)((_length + segmentSize - 1) / segmentSize)];
        _stopped = _length < _max; // all of it is the end of the file, cut as a stream
    }

    /// <summary>Reads file bytes at a position into a span, as <see cref="RandomAccess.Read(SafeFileHandle, Span{byte}, long)"/>.</summary>
    internal delegate int ReadAt(SafeFileHandle handle, Span<byte> into, long fileOffset);

    /// <summary>True once the segment the true cut is in was read and cut (or the end of the file is being cut as a stream).</summary>
    public bool CanCutNow => _stopped || Volatile.Read(ref _segments[_current]) is { IsFinished: true };

    public async ValueTask<ChunkWork?> NextAsync(CancellationToken token)
    {
        if (_tail is null && _position + _max > _length)
        {
            StartTail();
        }

        if (_tail is not null)
        {
            return await _tail.NextAsync(token).ConfigureAwait(false);
        }

        token.ThrowIfCancellationRequested();
        var segment = await GetAsync(_current, token).ConfigureAwait(false);
        if (segment.Error is { } error)
        {
            ExceptionDispatchInfo.Throw(error);
        }

        var at = (int)(_position - segment.Start);
        var guessed = segment.Boundaries;
        while (_boundary < guessed.Count && guessed[_boundary] < at)
        {
            _boundary++;
        }

        int n;
        if (_boundary + 1 < guessed.Count && guessed[_boundary] == at)
        {
            n = guessed[_boundary + 1] - at;
        }
        else
        {
            // Not on the guessed cut (yet): cut from here. A maximum-size chunk from here always fits the block.
            Fill(segment, at + _max, token);
            if (segment.Filled < at + _max)
            {
                StartTail(); // the file is shorter than it was: cut what is left as a stream
                return await _tail!.NextAsync(token).ConfigureAwait(false);
            }

            n = _chunker.FindBoundary(segment.Block!.Array.AsSpan(at, segment.Filled - at), isFinalBlock: false);
            if (n <= 0 || n > _max)
            {
                throw new InvalidOperationException($"{_chunker.GetType().Name} returned {n} for {segment.Filled - at} bytes (max {_max}).");
            }
        }

        var block = segment.Block!;
        block.AddReference();
        var item = new ChunkWork(block, block.Array.AsMemory(at, n), _position);
        _position += n;
        if (_position + _max > _length)
        {
            _stopped = true; // the rest is the stream cutter's: nothing more to read ahead
        }
        else if (_position / _segmentSize != _current)
        {
            MoveTo((int)(_position / _segmentSize));
        }

        return item;
    }

    /// <summary>Reads and cuts the first segment not yet taken within reach of the true cut; false if there is none.</summary>
    public bool TryHelp(CancellationToken token)
    {
        if (_stopped || token.IsCancellationRequested)
        {
            return false;
        }

        var from = _current;
        var to = Math.Min(_segments.Length - 1, from + _ahead);
        for (var i = from; i <= to; i++)
        {
            var segment = Segment(i);
            if (segment.IsNew && segment.TryClaim())
            {
                Cut(segment, token);
                return true;
            }
        }

        return false;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _stopped = true;
            foreach (var segment in _segments)
            {
                if (segment is { IsFinished: true })
                {
                    Release(segment);
                }
            }
        }

        _tail?.Dispose();
        _tail = null;
    }

    /// <summary>
    /// The segment cut: by this caller if nobody took it yet, else waited for. Not helping with other segments meanwhile:
    /// this caller holds the turn, and the chunks of the segment, once cut, are for it to hand out.
    /// </summary>
    private async ValueTask<CutSegment> GetAsync(int index, CancellationToken token)
    {
        var segment = Segment(index);
        if (segment.TryClaim())
        {
            Cut(segment, token);
        }
        else if (!segment.IsFinished)
        {
            await segment.Done.Task.WaitAsync(token).ConfigureAwait(false);
        }

        return segment;
    }

    /// <summary>Reads a segment and cuts it from its first byte, as far as its bytes decide. Never throws: a failure is the segment's.</summary>
    private void Cut(CutSegment segment, CancellationToken token)
    {
        try
        {
            if (segment.Start + _max > _length)
            {
                return; // every chunk starting here is the end of the file's (see the remarks)
            }

            segment.Block = new PooledBlock(_capacity);
            var end = (int)(Math.Min(segment.End, _length) - segment.Start);
            var guessed = segment.Boundaries;
            var at = 0;
            var step = Math.Max(_readSize, _max / 4);
            while (at < end && segment.Start + at + _max <= _length)
            {
                token.ThrowIfCancellationRequested();

                // Keep a maximum-size chunk read ahead within the segment, a read at a time (the bytes are cut while the
                // copy is still in cache); past the segment's end read only as far as its last chunk needs.
                while (segment.Filled < Math.Min(at + _max, end) && !segment.Ended)
                {
                    Fill(segment, Math.Min(segment.Filled + _readSize, end), token);
                }

                var available = segment.Filled - at;
                var n = _chunker.FindBoundary(segment.Block.Array.AsSpan(at, available), isFinalBlock: false);
                if (n < 0 || n > available)
                {
                    throw new InvalidOperationException($"{_chunker.GetType().Name} returned {n} for {available} bytes.");
                }

                if (n == 0)
                {
                    if (segment.Ended || available >= _max)
                    {
                        break; // the file ended early: the true cut takes over here
                    }

                    Fill(segment, Math.Min(at + _max, segment.Filled + step), token);
                    step *= 2;
                    continue;
                }

                at += n;
                guessed.Add(at);
            }
        }
        catch (Exception ex)
        {
            segment.Error = ex;
        }
        finally
        {
            lock (_lock)
            {
                segment.Finish();
                if (_disposed)
                {
                    Release(segment);
                }
            }
        }
    }

    /// <summary>Reads into the segment's block until it holds <paramref name="target"/> bytes (capped by its capacity and the length seen at the start) or the file ends.</summary>
    private void Fill(CutSegment segment, int target, CancellationToken token)
    {
        target = (int)Math.Min(Math.Min(target, _capacity), _length - segment.Start);
        var array = segment.Block!.Array;
        if (segment.Filled < target && !segment.Ended)
        {
            // The bytes about to be read into: faulted in at once where the block is fresh memory (HugePageArrays.Populate).
            segment.Block.Populate(segment.Filled, target - segment.Filled);
        }

        while (segment.Filled < target && !segment.Ended)
        {
            token.ThrowIfCancellationRequested();
            var read = _readAt(_handle, array.AsSpan(segment.Filled, target - segment.Filled), _base + segment.Start + segment.Filled);
            if (read == 0)
            {
                segment.Ended = true;
            }

            segment.Filled += read;
        }
    }

    private CutSegment Segment(int index)
    {
        var segment = Volatile.Read(ref _segments[index]);
        if (segment is not null)
        {
            return segment;
        }

        lock (_lock)
        {
            var start = (long)index * _segmentSize;
            return _segments[index] ??= new CutSegment(index, start, start + _segmentSize);
        }
    }

    /// <summary>The true cut moved into segment <paramref name="index"/>: the segments before it are done with (their chunks hold their blocks).</summary>
    private void MoveTo(int index)
    {
        lock (_lock)
        {
            for (var i = _current; i < index; i++)
            {
                if (_segments[i] is { IsFinished: true } done)
                {
                    Release(done);
                }
            }

            _current = index;
            _boundary = 0;
        }
    }

    private void StartTail()
    {
        _stopped = true;
        _input.Position = _base + _position;
        _tail = new StreamCutter(_input, _chunker, _tailBlockSize, _readSize, startOffset: _position);
    }

    private static void Release(CutSegment segment)
    {
        segment.Block?.Release();
        segment.Block = null;
    }
}
