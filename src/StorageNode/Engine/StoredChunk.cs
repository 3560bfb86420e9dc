using System.Buffers;
using Dropbox.Shared.Chunks;

namespace Dropbox.StorageNode.Engine;

/// <summary>A chunk's stored bytes in a pooled buffer; dispose to return the buffer.</summary>
public sealed class StoredChunk : IDisposable
{
    private byte[]? _buffer;
    private readonly int _offset;
    private readonly ArrayPool<byte> _pool;

    internal StoredChunk(byte[] buffer, int offset, int length, ChunkEncoding encoding, int plainLength, ArrayPool<byte> pool)
    {
        _buffer = buffer;
        _pool = pool;
        _offset = offset;
        Length = length;
        Encoding = encoding;
        PlainLength = plainLength;
    }

    /// <summary>Encoding of <see cref="Data"/>.</summary>
    public ChunkEncoding Encoding { get; }

    /// <summary>Plain size of the chunk.</summary>
    public int PlainLength { get; }

    /// <summary>Stored size.</summary>
    public int Length { get; }

    /// <summary>The stored bytes (valid until disposed).</summary>
    public ReadOnlyMemory<byte> Data => new(_buffer ?? throw new ObjectDisposedException(nameof(StoredChunk)), _offset, Length);

    /// <inheritdoc />
    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            _pool.Return(buffer);
        }
    }
}
