using System.Buffers;
using Dropbox.Shared.Chunks;

namespace Dropbox.Shared.Pipeline;

/// <summary>
/// One chunk out of a <see cref="ChunkPipeline"/>: where it sits in the input, its id, and how it is stored.
/// <see cref="Plain"/> and <see cref="Stored"/> point into pooled buffers and are valid until
/// <see cref="Dispose"/>, which hands those buffers back; copy the bytes out if you need them longer.
/// </summary>
public sealed class ProcessedChunk : IDisposable
{
    private PooledBlock? _block;
    private byte[]? _storedBuffer;

    internal ProcessedChunk(
        long offset,
        ChunkId id,
        int plainLength,
        ChunkEncoding encoding,
        int storedLength,
        ReadOnlyMemory<byte> plain,
        ReadOnlyMemory<byte> stored,
        PooledBlock? block,
        byte[]? storedBuffer,
        UInt128? fastHash = null)
    {
        FastHash = fastHash;
        Offset = offset;
        Id = id;
        PlainLength = plainLength;
        Encoding = encoding;
        Plain = plain;
        Stored = stored;
        Ref = new ChunkRef(id, plainLength, encoding, storedLength);
        _block = block;
        _storedBuffer = storedBuffer;
    }

    /// <summary>Position of the chunk's first byte in the input.</summary>
    public long Offset { get; }

    /// <summary>SHA-256 of the plain bytes.</summary>
    public ChunkId Id { get; }

    /// <summary>Plain size in bytes.</summary>
    public int PlainLength { get; }

    /// <summary>Raw, or LZ4 where compression saved at least 1/16.</summary>
    public ChunkEncoding Encoding { get; }

    /// <summary>The plain bytes (empty when the pipeline does not keep data). Valid until <see cref="Dispose"/>.</summary>
    public ReadOnlyMemory<byte> Plain { get; private set; }

    /// <summary>
    /// The bytes to store or send: LZ4 output, or the same memory as <see cref="Plain"/> when raw (empty when the
    /// pipeline does not keep data). Valid until <see cref="Dispose"/>.
    /// </summary>
    public ReadOnlyMemory<byte> Stored { get; private set; }

    /// <summary>
    /// The plain bytes' <see cref="ChunkFastHash"/> when the pipeline was given a <see cref="KnownChunks"/> list (null
    /// otherwise). When the chunk matched that list, <see cref="Id"/> is the list's and was not computed here.
    /// </summary>
    public UInt128? FastHash { get; }

    /// <summary>The reference a file version records (id, size, encoding, stored size).</summary>
    public ChunkRef Ref { get; }

    /// <summary>Returns the pooled buffers. Safe to call more than once.</summary>
    public void Dispose()
    {
        Plain = ReadOnlyMemory<byte>.Empty;
        Stored = ReadOnlyMemory<byte>.Empty;
        Interlocked.Exchange(ref _block, null)?.Release();
        var stored = Interlocked.Exchange(ref _storedBuffer, null);
        if (stored is not null)
        {
            PipelineBuffers.Pool.Return(stored);
        }
    }
}
