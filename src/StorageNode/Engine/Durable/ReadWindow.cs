using System.Buffers;
using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Engine.Durable;

/// <summary>
/// A pooled window over a file read front to back up to <c>end</c>: <see cref="TryGet"/> answers from the bytes already
/// read, and reads the next stretch (at least <see cref="Bytes"/>, or the one frame asked for) only when they do not hold
/// the range. Dispose it to give the buffer back. A class, not a struct: a copy of a struct would give the pooled buffer
/// back twice, and two later renters would then share it.
/// </summary>
internal sealed class ReadWindow(IEngineFile file, long end) : IDisposable
{
    /// <summary>Bytes read at once (records of the logs read this way are tens of bytes).</summary>
    public const int Bytes = 64 << 10;

    private byte[]? _buffer;
    private long _start;
    private int _length;

    /// <summary>
    /// The <paramref name="count"/> bytes at <paramref name="offset"/>, valid until the next call; false when the file
    /// (up to its end) does not hold them all.
    /// </summary>
    public bool TryGet(long offset, int count, out ReadOnlySpan<byte> bytes)
    {
        if (_buffer is null || offset < _start || offset + count > _start + _length)
        {
            Fill(offset, count);
        }

        if (offset + count > _start + _length)
        {
            bytes = default;
            return false;
        }

        bytes = _buffer.AsSpan((int)(offset - _start), count);
        return true;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }

    private void Fill(long offset, int count)
    {
        if (_buffer is null || _buffer.Length < count)
        {
            Dispose();
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(Bytes, count));
        }

        // At most the window (or the one frame asked for), not the rented array: the pool rounds a large frame's buffer up
        // to the next power of two, and every later fill would then read that much.
        var want = (int)Math.Clamp(end - offset, 0, Math.Max(Bytes, count));
        var filled = 0;
        while (filled < want)
        {
            var n = file.Read(_buffer.AsSpan(filled, want - filled), offset + filled);
            if (n <= 0)
            {
                break;
            }

            filled += n;
        }

        _start = offset;
        _length = filled;
    }
}
