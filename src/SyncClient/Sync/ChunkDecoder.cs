using Dropbox.Shared.Chunks;
using Dropbox.Shared.Compression;
using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Remote;

namespace Dropbox.SyncClient.Sync;

/// <summary>Turns a received chunk into verified plain bytes: decode, then SHA-256 must equal the id.</summary>
internal static class ChunkDecoder
{
    /// <summary>
    /// Decodes and verifies <paramref name="chunk"/>, taking ownership of it: the result (a pooled buffer the caller
    /// disposes) is either the chunk's own buffer (raw) or a new one (LZ4, the chunk's buffer is returned at once).
    /// On failure the chunk is disposed and <see cref="ErrorKind.DataLoss"/> thrown.
    /// </summary>
    public static ChunkBuffer DecodeAndVerify(IncomingChunk chunk, ChunkId expected, int expectedSize)
    {
        ChunkBuffer? plain = null;
        var handedOver = false;
        try
        {
            if (chunk.Id != expected)
            {
                throw new DropboxException(ErrorKind.DataLoss, $"Asked for chunk {expected.ToShortString()} but got {chunk.Id.ToShortString()}.");
            }

            if (chunk.Encoding == ChunkEncoding.Lz4)
            {
                if (expectedSize < 0)
                {
                    throw new DropboxException(ErrorKind.DataLoss, $"Chunk {expected.ToShortString()} has a negative size.");
                }

                plain = ChunkBuffer.Rent(expectedSize);
                try
                {
                    Lz4ChunkCodec.Decode(ChunkEncoding.Lz4, chunk.Stored.Span, plain.Span);
                }
                catch (Exception e) when (e is DropboxException or ArgumentException or InvalidOperationException)
                {
                    throw new DropboxException(ErrorKind.DataLoss, $"Chunk {expected.ToShortString()} did not decompress to its {expectedSize} bytes.", e);
                }

                chunk.Dispose();
            }
            else
            {
                plain = chunk.Stored;
                handedOver = true;
            }

            if (plain.Length != expectedSize || ChunkId.Compute(plain.Span) != expected)
            {
                throw new DropboxException(ErrorKind.DataLoss, $"Chunk {expected.ToShortString()} does not hash to its id: corrupt in transit or at rest.");
            }

            var result = plain;
            plain = null;
            return result;
        }
        finally
        {
            plain?.Dispose();
            if (!handedOver)
            {
                chunk.Dispose();
            }
        }
    }
}
