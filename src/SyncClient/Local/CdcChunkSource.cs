using System.Buffers;
using System.Runtime.CompilerServices;
using Dropbox.Shared.Chunking;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Compression;

namespace Dropbox.SyncClient.Local;

/// <summary>
/// Streams a file through an <see cref="IChunker"/> (FastCDC by default): a sliding buffer of two maximum
/// chunks, SHA-256 per chunk, and optionally LZ4 per chunk (only where it pays) for the bytes that travel.
/// Memory is bounded by the buffer plus the chunks the caller still holds.
/// </summary>
internal sealed class CdcChunkSource : IChunkSource
{
    private readonly IChunker _chunker;
    private readonly bool _compress;

    public CdcChunkSource(IChunker? chunker = null, bool compress = true)
    {
        _chunker = chunker ?? new FastCdcChunker(ChunkerOptions.Default);
        _compress = compress;
    }

    public async IAsyncEnumerable<SourceChunk> ReadAsync(Stream input, bool keepData, [EnumeratorCancellation] CancellationToken ct)
    {
        var capacity = Math.Max(_chunker.MaxChunkSize * 2, 1 << 16);
        var buffer = ArrayPool<byte>.Shared.Rent(capacity);
        try
        {
            int start = 0, end = 0;
            long offset = 0;
            var eof = false;
            while (true)
            {
                // Keep at least one maximum chunk ahead so the chunker can always decide.
                if (!eof && end - start < _chunker.MaxChunkSize)
                {
                    if (start > 0)
                    {
                        Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                        end -= start;
                        start = 0;
                    }

                    while (!eof && end < capacity)
                    {
                        var read = await input.ReadAsync(buffer.AsMemory(end, capacity - end), ct).ConfigureAwait(false);
                        if (read == 0)
                        {
                            eof = true;
                        }

                        end += read;
                    }
                }

                if (end == start)
                {
                    yield break;
                }

                var length = _chunker.FindBoundary(buffer.AsSpan(start, end - start), eof);
                if (length <= 0)
                {
                    length = Math.Min(end - start, _chunker.MaxChunkSize); // cannot happen with a full window; be safe
                }

                yield return Cut(buffer.AsSpan(start, length), offset, keepData);
                start += length;
                offset += length;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private SourceChunk Cut(ReadOnlySpan<byte> plain, long offset, bool keepData)
    {
        var id = ChunkId.Compute(plain);
        if (!keepData)
        {
            return new SourceChunk(offset, ChunkRef.Raw(id, plain.Length), default, default, null);
        }

        var owner = new PooledBuffers();
        var copy = owner.Rent(plain.Length);
        plain.CopyTo(copy);
        var plainMemory = copy.AsMemory(0, plain.Length);
        if (_compress)
        {
            var encoded = owner.Rent(Lz4ChunkCodec.MaxEncodedLength(plain.Length));
            if (Lz4ChunkCodec.Encode(plain, encoded, out var written) == ChunkEncoding.Lz4)
            {
                return new SourceChunk(offset, new ChunkRef(id, plain.Length, ChunkEncoding.Lz4, written), plainMemory, encoded.AsMemory(0, written), owner);
            }
        }

        return new SourceChunk(offset, ChunkRef.Raw(id, plain.Length), plainMemory, plainMemory, owner);
    }

    private sealed class PooledBuffers : IDisposable
    {
        private readonly List<byte[]> _arrays = new(2);

        public byte[] Rent(int size)
        {
            var array = ArrayPool<byte>.Shared.Rent(size);
            _arrays.Add(array);
            return array;
        }

        public void Dispose()
        {
            lock (_arrays)
            {
                foreach (var a in _arrays)
                {
                    ArrayPool<byte>.Shared.Return(a);
                }

                _arrays.Clear();
            }
        }
    }
}
