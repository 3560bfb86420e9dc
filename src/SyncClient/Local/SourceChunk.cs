using Dropbox.Shared.Chunks;

namespace Dropbox.SyncClient.Local;

/// <summary>One chunk cut from a local file: its reference and, when asked for, its bytes.</summary>
internal sealed class SourceChunk : IDisposable
{
    private readonly IDisposable? _owner;

    public SourceChunk(long offset, ChunkRef reference, ReadOnlyMemory<byte> plain, ReadOnlyMemory<byte> stored, IDisposable? owner, UInt128? fastHash = null)
    {
        FastHash = fastHash;
        Offset = offset;
        Ref = reference;
        Plain = plain;
        Stored = stored;
        _owner = owner;
    }

    /// <summary>Offset of the chunk in the file.</summary>
    public long Offset { get; }

    /// <summary>Id, plain size, encoding and stored size.</summary>
    public ChunkRef Ref { get; }

    /// <summary>The plain bytes' <see cref="ChunkFastHash"/>, when the source was asked for it (else null).</summary>
    public UInt128? FastHash { get; }

    /// <summary>Plain bytes (empty when data was not kept).</summary>
    public ReadOnlyMemory<byte> Plain { get; }

    /// <summary>Bytes as they travel (LZ4 or raw; empty when data was not kept).</summary>
    public ReadOnlyMemory<byte> Stored { get; }

    /// <inheritdoc />
    public void Dispose() => _owner?.Dispose();
}
