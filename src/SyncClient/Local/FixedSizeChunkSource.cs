using System.Buffers;
using System.Runtime.CompilerServices;
using Dropbox.Shared.Chunks;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// Fixed-size blocks, raw: the simple chunker, kept for comparison, for tests that want predictable
/// boundaries, and as a fallback (<c>--chunker fixed</c>).
/// </summary>
internal sealed class FixedSizeChunkSource : IChunkSource
{
    private readonly int _blockSize;

    public FixedSizeChunkSource(int blockSize = 1 << 20)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        _blockSize = blockSize;
    }

    public async IAsyncEnumerable<SourceChunk> ReadAsync(Stream input, bool keepData, [EnumeratorCancellation] CancellationToken ct)
    {
        long offset = 0;
        while (true)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(_blockSize);
            var filled = 0;
            try
            {
                while (filled < _blockSize)
                {
                    var read = await input.ReadAsync(buffer.AsMemory(filled, _blockSize - filled), ct).ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }

                    filled += read;
                }
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }

            if (filled == 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                yield break;
            }

            var id = ChunkId.Compute(buffer.AsSpan(0, filled));
            var reference = ChunkRef.Raw(id, filled);
            if (keepData)
            {
                var data = buffer.AsMemory(0, filled);
                yield return new SourceChunk(offset, reference, data, data, new PooledBuffer(buffer));
            }
            else
            {
                ArrayPool<byte>.Shared.Return(buffer);
                yield return new SourceChunk(offset, reference, default, default, null);
            }

            offset += filled;
            if (filled < _blockSize)
            {
                yield break;
            }
        }
    }

    private sealed class PooledBuffer(byte[] buffer) : IDisposable
    {
        private byte[]? _buffer = buffer;

        public void Dispose()
        {
            var b = Interlocked.Exchange(ref _buffer, null);
            if (b is not null)
            {
                ArrayPool<byte>.Shared.Return(b);
            }
        }
    }
}
