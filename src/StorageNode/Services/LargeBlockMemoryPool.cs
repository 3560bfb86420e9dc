using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace Dropbox.StorageNode.Services;

/// <summary>
/// Kestrel's connection memory pool with 256 KiB blocks instead of 4 KiB: the socket transport receives into what is
/// left of the current block, so the block bounds every read. With 64 KiB blocks a 1 GiB upload took 39,500 reads
/// (27 KiB each on average); with 256 KiB, 10,300 (each read is a system call and a pipe round, and on the measured VM
/// they were a large part of the put path's CPU). Blocks are pinned arrays, kept for reuse up to the same 64 MiB per
/// pool as before. An idle connection holds none (Kestrel waits for data before it takes a block). A presigned put with a
/// declared length holds its whole body in blocks until the chunk is durable (it is stored straight from them), about
/// 17-21 blocks for a 4 MiB chunk with the read-ahead, as the chunk buffer it replaced held the declared size from the
/// first byte; past the pool's bound, blocks are allocated and dropped, not kept. Never advised for huge pages, even where
/// <c>DROPBOX_HUGE_PAGES=on</c> advises the staging buffer (<see cref="Dropbox.Shared.Memory.HugePageArrays"/>): the kernel
/// could then make each such block resident whole (though a block beside an advised buffer may share its advised pages).
/// </summary>
internal sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    /// <summary>Bytes per block.</summary>
    public const int BlockSize = 256 * 1024;

    private const int MaxPooledBlocks = 256;

    private readonly ConcurrentQueue<byte[]> _free = new();
    private int _pooled;

    /// <inheritdoc />
    public override int MaxBufferSize => BlockSize;

    /// <inheritdoc />
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > BlockSize)
        {
            throw new ArgumentOutOfRangeException(nameof(minBufferSize), minBufferSize, $"Blocks are {BlockSize} bytes.");
        }

        if (_free.TryDequeue(out var array))
        {
            Interlocked.Decrement(ref _pooled);
        }
        else
        {
            array = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
        }

        return new Block(this, array);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => _free.Clear();

    private void Return(byte[] array)
    {
        if (Interlocked.Increment(ref _pooled) <= MaxPooledBlocks)
        {
            _free.Enqueue(array);
        }
        else
        {
            Interlocked.Decrement(ref _pooled);
        }
    }

    /// <summary>Creates the pools Kestrel asks for.</summary>
    internal sealed class Factory : IMemoryPoolFactory<byte>
    {
        /// <inheritdoc />
        public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockMemoryPool();
    }

    private sealed class Block : IMemoryOwner<byte>
    {
        private readonly LargeBlockMemoryPool _pool;
        private byte[]? _array;

        public Block(LargeBlockMemoryPool pool, byte[] array)
        {
            _pool = pool;
            _array = array;
        }

        public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(Block));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _array, null) is { } array)
            {
                _pool.Return(array);
            }
        }
    }
}
