using Microsoft.Win32.SafeHandles;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// A read-only view of bytes [offset, offset + length) of an open file, read with positional reads (the handle is
/// shared and never seeked). Lets a chunk source cut one stretch of a file as if it were the whole input: since a
/// chunk boundary depends only on the bytes from the chunk's start, a stretch that starts and ends on boundaries
/// cuts into the same chunks it was cut into as part of the file.
/// </summary>
internal sealed class FileRangeStream : Stream
{
    private readonly SafeFileHandle _handle;
    private readonly long _start;
    private readonly long _length;
    private long _position;

    public FileRangeStream(SafeFileHandle handle, long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _handle = handle;
        _start = offset;
        _length = length;
    }

    public override bool CanRead => true;

    /// <summary>Seekable within the stretch, so a reader can size its buffer to <see cref="Length"/> (a short stretch needs no full block).</summary>
    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, _length);
            _position = value;
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = RandomAccess.Read(_handle, Clamp(buffer), _start + _position);
        _position += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var left = _length - _position;
        if (left <= 0 || buffer.IsEmpty)
        {
            return 0;
        }

        var n = await RandomAccess.ReadAsync(_handle, buffer[..(int)Math.Min(buffer.Length, left)], _start + _position, cancellationToken).ConfigureAwait(false);
        _position += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin), origin, "Not a SeekOrigin."),
        };
        return _position;
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private Span<byte> Clamp(Span<byte> buffer) => buffer[..(int)Math.Min(buffer.Length, Math.Max(0, _length - _position))];
}
