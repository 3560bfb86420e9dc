using System.Buffers;

namespace Dropbox.SyncClient.Remote;

/// <summary>
/// Bytes of one chunk (or one received frame) in an array rented from a pool of the client's own, returned on dispose.
/// Downloads hold only a window of these at a time, so a multi-GiB download reuses a handful of arrays instead of
/// allocating a fresh large-object-heap array per chunk.
/// </summary>
/// <remarks>
/// A dedicated pool rather than <see cref="ArrayPool{T}.Shared"/>: the shared pool keeps a per-thread slot and up to
/// 8 arrays per size per core, and since buffers are rented on one thread-pool thread and returned on another it ends
/// up holding many more MiB-sized arrays than are ever in use at once. This pool only grows to the real concurrency.
/// </remarks>
internal sealed class ChunkBuffer : IDisposable
{
    /// <summary>Largest array pooled (a 4 MiB chunk, stored a little larger, rounds up to this); larger ones are not kept.</summary>
    private const int MaxPooledLength = 8 << 20;

    private static readonly ArrayPool<byte> Pool = ArrayPool<byte>.Create(MaxPooledLength, maxArraysPerBucket: 16);

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
        return new ChunkBuffer(length == 0 ? [] : Pool.Rent(length), length);
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
            Pool.Return(array);
        }
    }

    private byte[] Array() => _array ?? throw new ObjectDisposedException(nameof(ChunkBuffer));
}
