using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Remote;
using Dropbox.Shared.Compression;

namespace Dropbox.SyncClient.Sync;

/// <summary>Turns a received chunk into verified plain bytes: decode, then SHA-256 must equal the id.</summary>
internal static class ChunkDecoder
{
    public static byte[] DecodeAndVerify(IncomingChunk chunk, ChunkId expected, int expectedSize)
    {
        if (chunk.Id != expected)
        {
            throw new DropboxException(ErrorKind.DataLoss, $"Asked for chunk {expected.ToShortString()} but got {chunk.Id.ToShortString()}.");
        }

        byte[] plain;
        if (chunk.Encoding == ChunkEncoding.Lz4)
        {
            try
            {
                plain = Lz4ChunkCodec.Decode(ChunkEncoding.Lz4, chunk.Stored, expectedSize);
            }
            catch (Exception e) when (e is DropboxException or ArgumentException or InvalidOperationException)
            {
                throw new DropboxException(ErrorKind.DataLoss, $"Chunk {expected.ToShortString()} did not decompress to its {expectedSize} bytes.", e);
            }
        }
        else
        {
            plain = chunk.Stored;
        }

        if (plain.Length != expectedSize || ChunkId.Compute(plain) != expected)
        {
            throw new DropboxException(ErrorKind.DataLoss, $"Chunk {expected.ToShortString()} does not hash to its id: corrupt in transit or at rest.");
        }

        return plain;
    }
}
