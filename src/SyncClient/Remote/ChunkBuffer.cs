using System.Buffers;

namespace Dropbox.SyncClient.Remote;

/// <summary>
/// Bytes of one chunk in an array rented from <see cref="ArrayPool{T}.Shared"/>, returned on dispose. Downloads hold
/// only a window of these at a time, so a multi-GiB download reuses a handful of arrays instead of allocating a fresh
/// large-object-heap array per chunk.
/// </summary>
internal sealed class ChunkBuffer : IDisposable
{
    private byte[]? _array;

    private ChunkBuffer(byte[] array, int length)
    {
        _array = array;
        Length = length;
    }

    /// <summary>Number of bytes in use.</summary>
    public int Length { get; }

    /// <summary>The bytes (throws once disposed).</summary>
    public Memory<byte> Memory => Array().AsMemory(0, Length);

    /// <summary>The bytes (throws once disposed).</summary>
    public Span<byte> Span => Array().AsSpan(0, Length);

    /// <summary>Rents a buffer of exactly <paramref name="length"/> usable bytes (contents unspecified).</summary>
    public static ChunkBuffer Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return new ChunkBuffer(length == 0 ? [] : ArrayPool<byte>.Shared.Rent(length), length);
    }

    /// <summary>A buffer holding a copy of <paramref name="bytes"/>.</summary>
    public static ChunkBuffer CopyOf(ReadOnlySpan<byte> bytes)
    {
        var buffer = Rent(bytes.Length);
        bytes.CopyTo(buffer.Span);
        return buffer;
    }

    /// <summary>Returns the array to the pool; later calls do nothing.</summary>
    public void Dispose()
    {
        var array = Interlocked.Exchange(ref _array, null);
        if (array is { Length: > 0 })
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }

    private byte[] Array() => _array ?? throw new ObjectDisposedException(nameof(ChunkBuffer));
}
