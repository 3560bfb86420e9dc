using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using K4os.Compression.LZ4;

namespace Dropbox.StorageNode.Store;

/// <summary>
/// Decodes stored chunk bytes to plain bytes. One small seam so the shared codec can replace the direct LZ4 call.
/// </summary>
internal static class ChunkCodec
{
    /// <summary>Decodes into <paramref name="destination"/>, which must be exactly the plain size; DataLoss on bad input.</summary>
    public static void Decode(ChunkEncoding encoding, ReadOnlySpan<byte> stored, Span<byte> destination)
    {
        switch (encoding)
        {
            case ChunkEncoding.Raw:
                if (stored.Length != destination.Length)
                {
                    throw new DropboxException(ErrorKind.DataLoss, $"A raw chunk of {stored.Length} bytes does not match its plain size {destination.Length}.");
                }

                stored.CopyTo(destination);
                return;
            case ChunkEncoding.Lz4:
                var n = LZ4Codec.Decode(stored, destination);
                if (n != destination.Length)
                {
                    throw new DropboxException(ErrorKind.DataLoss, $"The LZ4 block does not decode to the declared plain size {destination.Length} (got {(n < 0 ? "an invalid block" : n + " bytes")}); nothing was stored.");
                }

                return;
            default:
                throw new DropboxException(ErrorKind.InvalidArgument, $"Unknown chunk encoding {(int)encoding}.");
        }
    }
}
