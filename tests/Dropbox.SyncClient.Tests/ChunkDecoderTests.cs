using Dropbox.Shared.Chunks;
using Dropbox.Shared.Compression;
using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

public sealed class ChunkDecoderTests
{
    private static byte[] Compressible(int size)
    {
        var bytes = new byte[size];
        for (var i = 0; i < size; i++)
        {
            bytes[i] = (byte)("the quick brown fox "[i % 20]);
        }

        return bytes;
    }

    [Fact]
    public void A_raw_chunk_is_verified_and_handed_over_in_its_own_pooled_buffer()
    {
        var plain = TestClient.RandomBytes(100_000, 1);
        var id = ChunkId.Compute(plain);

        using var result = ChunkDecoder.DecodeAndVerify(new IncomingChunk(id, ChunkEncoding.Raw, plain.Length, ChunkBuffer.CopyOf(plain)), id, plain.Length);

        Assert.Equal(plain, result.Span.ToArray());
    }

    [Fact]
    public void An_lz4_chunk_is_decoded_into_a_pooled_buffer_and_verified()
    {
        var plain = Compressible(200_000);
        var id = ChunkId.Compute(plain);
        var encoded = new byte[Lz4ChunkCodec.MaxEncodedLength(plain.Length)];
        Assert.Equal(ChunkEncoding.Lz4, Lz4ChunkCodec.EncodeWhole(plain, encoded, out var written));

        using var result = ChunkDecoder.DecodeAndVerify(new IncomingChunk(id, ChunkEncoding.Lz4, plain.Length, ChunkBuffer.CopyOf(encoded.AsSpan(0, written))), id, plain.Length);

        Assert.Equal(plain, result.Span.ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_chunk_whose_bytes_do_not_hash_to_its_id_is_data_loss(bool lz4)
    {
        var plain = lz4 ? Compressible(50_000) : TestClient.RandomBytes(50_000, 2);
        var id = ChunkId.Compute(plain);
        var damaged = (byte[])plain.Clone();
        damaged[123] ^= 1;
        var stored = damaged;
        if (lz4)
        {
            var encoded = new byte[Lz4ChunkCodec.MaxEncodedLength(damaged.Length)];
            Lz4ChunkCodec.EncodeWhole(damaged, encoded, out var written);
            stored = encoded[..written];
        }

        var chunk = new IncomingChunk(id, lz4 ? ChunkEncoding.Lz4 : ChunkEncoding.Raw, plain.Length, ChunkBuffer.CopyOf(stored));
        var error = Assert.Throws<DropboxException>(() => ChunkDecoder.DecodeAndVerify(chunk, id, plain.Length));

        Assert.Equal(ErrorKind.DataLoss, error.Kind);
        Assert.Throws<ObjectDisposedException>(() => chunk.Stored.Span.Length); // its buffer went back to the pool
    }

    [Fact]
    public void A_chunk_with_another_id_is_data_loss()
    {
        var plain = TestClient.RandomBytes(1000, 3);
        var other = ChunkId.Compute(TestClient.RandomBytes(1000, 4));

        var error = Assert.Throws<DropboxException>(() =>
            ChunkDecoder.DecodeAndVerify(new IncomingChunk(ChunkId.Compute(plain), ChunkEncoding.Raw, plain.Length, ChunkBuffer.CopyOf(plain)), other, plain.Length));

        Assert.Equal(ErrorKind.DataLoss, error.Kind);
    }
}
