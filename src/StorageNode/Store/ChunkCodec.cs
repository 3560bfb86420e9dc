using Dropbox.Shared.Chunks;
using Dropbox.Shared.Compression;

namespace Dropbox.StorageNode.Store;

/// <summary>Decodes stored chunk bytes to plain bytes: the one seam over the shared LZ4 chunk codec.</summary>
internal static class ChunkCodec
{
    /// <summary>Decodes into <paramref name="destination"/>, which must be exactly the plain size; DataLoss on bad input.</summary>
    public static void Decode(ChunkEncoding encoding, ReadOnlySpan<byte> stored, Span<byte> destination) =>
        Lz4ChunkCodec.Decode(encoding, stored, destination);
}
