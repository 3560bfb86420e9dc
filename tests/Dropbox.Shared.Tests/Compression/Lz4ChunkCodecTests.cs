using Dropbox.Shared.Chunks;
using Dropbox.Shared.Compression;
using Dropbox.Shared.Errors;

namespace Dropbox.Shared.Tests.Compression;

public sealed class Lz4ChunkCodecTests
{
    [Theory]
    [InlineData(100)]
    [InlineData(10_000)]
    [InlineData(1024 * 1024)]
    public void Text_compresses_and_round_trips(int length)
    {
        var plain = TestData.Text(length);
        var stored = new byte[Lz4ChunkCodec.MaxEncodedLength(plain.Length)];

        var encoding = Lz4ChunkCodec.Encode(plain, stored, out var written);

        Assert.Equal(ChunkEncoding.Lz4, encoding);
        Assert.InRange(written, 1, plain.Length - (plain.Length / 16));
        Assert.Equal(plain, Lz4ChunkCodec.Decode(encoding, stored.AsSpan(0, written), plain.Length));
    }

    [Theory]
    [InlineData(100)]
    [InlineData(20_000)]
    [InlineData(4 * 1024 * 1024)]
    public void Random_data_stays_raw(int length)
    {
        var plain = TestData.Random(length, seed: length);
        var stored = new byte[Lz4ChunkCodec.MaxEncodedLength(plain.Length)];

        var encoding = Lz4ChunkCodec.Encode(plain, stored, out var written);

        Assert.Equal(ChunkEncoding.Raw, encoding);
        Assert.Equal(0, written);
        Assert.Equal(plain, Lz4ChunkCodec.Decode(encoding, plain, plain.Length));
    }

    [Fact]
    public void Random_data_is_refused_by_the_sample_test_without_a_full_compression()
    {
        var plain = TestData.Random(4 * 1024 * 1024, seed: 5);

        Assert.False(Lz4ChunkCodec.LooksCompressible(plain));
        Assert.True(Lz4ChunkCodec.LooksCompressible(TestData.Text(4 * 1024 * 1024)));
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(4608)]
    [InlineData(8192)]
    [InlineData(16 * 1024)]
    public void Small_random_chunks_are_not_tried_whole(int length)
    {
        for (var seed = 0; seed < 200; seed++)
        {
            Assert.False(Lz4ChunkCodec.LooksCompressible(TestData.Random(length, seed)), $"random chunk of {length} bytes, seed {seed}");
        }
    }

    [Fact]
    public void A_small_gzip_file_is_not_tried_whole()
    {
        using var packed = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(packed, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(TestData.Text(16 * 1024));
        }

        Assert.InRange(packed.Length, 1024, 16 * 1024);
        Assert.False(Lz4ChunkCodec.LooksCompressible(packed.ToArray()));
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(4608)]
    [InlineData(16 * 1024)]
    public void Small_text_and_structured_binary_chunks_are_still_tried_and_compressed(int length)
    {
        var text = TestData.Text(length);
        var records = new byte[length]; // 8-byte records of two counters and six zeros: every byte value in each KiB, yet LZ4 saves a third
        for (var i = 0; i + 8 <= length; i += 8)
        {
            records[i] = (byte)(i / 8);
            records[i + 1] = (byte)((i / 8) + 128);
        }

        foreach (var plain in new[] { text, records })
        {
            var stored = new byte[Lz4ChunkCodec.MaxEncodedLength(plain.Length)];
            Assert.True(Lz4ChunkCodec.LooksCompressible(plain));
            Assert.Equal(ChunkEncoding.Lz4, Lz4ChunkCodec.Encode(plain, stored, out var written));
            Assert.Equal(plain, Lz4ChunkCodec.Decode(ChunkEncoding.Lz4, stored.AsSpan(0, written), plain.Length));
        }
    }

    [Fact]
    public void A_small_chunk_that_starts_random_and_ends_in_padding_is_still_tried_and_compressed()
    {
        var plain = new byte[12 * 1024]; // 3 KiB of compressed bytes, then zeros: the tail of a tar of compressed files
        TestData.Random(3 * 1024, seed: 4).CopyTo(plain, 0);
        var stored = new byte[Lz4ChunkCodec.MaxEncodedLength(plain.Length)];

        Assert.True(Lz4ChunkCodec.LooksCompressible(plain));
        Assert.Equal(ChunkEncoding.Lz4, Lz4ChunkCodec.Encode(plain, stored, out var written));
        Assert.InRange(written, 1, 4 * 1024);
    }

    [Theory]
    [InlineData(239, true)]
    [InlineData(240, false)]
    public void A_small_chunk_counts_as_random_from_240_distinct_byte_values(int distinct, bool tried)
    {
        var plain = new byte[1024]; // each value 4-5 times, under the repeat limit
        for (var i = 0; i < plain.Length; i++)
        {
            plain[i] = (byte)(i % distinct);
        }

        Assert.Equal(tried, Lz4ChunkCodec.LooksCompressible(plain));
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(1023)]
    public void Chunks_under_a_KiB_are_tried_whole_whatever_their_bytes(int length)
    {
        var plain = TestData.Random(length, seed: 3);

        Assert.True(Lz4ChunkCodec.LooksCompressible(plain));
        Assert.Equal(ChunkEncoding.Raw, Lz4ChunkCodec.Encode(plain, new byte[Lz4ChunkCodec.MaxEncodedLength(plain.Length)], out _));
    }

    [Fact]
    public void Compression_that_saves_less_than_a_sixteenth_is_not_kept()
    {
        // 95% random, 5% zeros: LZ4 saves about 5%, under the 1/16 bar.
        var plain = TestData.Random(1024 * 1024, seed: 6);
        Array.Clear(plain, 0, plain.Length / 20);
        var stored = new byte[Lz4ChunkCodec.MaxEncodedLength(plain.Length)];

        var encoding = Lz4ChunkCodec.EncodeWhole(plain, stored, out var written);

        Assert.Equal(ChunkEncoding.Raw, encoding);
        Assert.Equal(0, written);
    }

    [Fact]
    public void A_destination_of_fifteen_sixteenths_is_enough()
    {
        var plain = TestData.Text(100_000);
        var stored = new byte[plain.Length - (plain.Length / 16)];

        var encoding = Lz4ChunkCodec.Encode(plain, stored, out var written);

        Assert.Equal(ChunkEncoding.Lz4, encoding);
        Assert.Equal(plain, Lz4ChunkCodec.Decode(encoding, stored.AsSpan(0, written), plain.Length));
    }

    [Fact]
    public void Empty_input_is_raw()
    {
        Assert.Equal(ChunkEncoding.Raw, Lz4ChunkCodec.Encode(ReadOnlySpan<byte>.Empty, new byte[16], out var written));
        Assert.Equal(0, written);
        Assert.Empty(Lz4ChunkCodec.Decode(ChunkEncoding.Raw, ReadOnlySpan<byte>.Empty, 0));
    }

    [Fact]
    public void Corrupt_lz4_input_is_data_loss()
    {
        var plain = TestData.Text(50_000);
        var stored = new byte[Lz4ChunkCodec.MaxEncodedLength(plain.Length)];
        var encoding = Lz4ChunkCodec.Encode(plain, stored, out var written);
        Assert.Equal(ChunkEncoding.Lz4, encoding);

        var truncated = stored.AsSpan(0, written / 2).ToArray();
        var garbage = TestData.Random(written, seed: 9);

        var ex1 = Assert.Throws<DropboxException>(() => Lz4ChunkCodec.Decode(ChunkEncoding.Lz4, truncated, plain.Length));
        var ex2 = Assert.Throws<DropboxException>(() => Lz4ChunkCodec.Decode(ChunkEncoding.Lz4, garbage, plain.Length));
        var ex3 = Assert.Throws<DropboxException>(() => Lz4ChunkCodec.Decode(ChunkEncoding.Lz4, stored.AsSpan(0, written).ToArray(), plain.Length + 1));

        Assert.All(new[] { ex1, ex2, ex3 }, ex => Assert.Equal(ErrorKind.DataLoss, ex.Kind));
        Assert.Contains("corrupt", ex1.Message);
    }

    [Fact]
    public void Mutated_lz4_input_either_decodes_or_is_data_loss()
    {
        var plain = TestData.Text(20_000);
        var stored = new byte[Lz4ChunkCodec.MaxEncodedLength(plain.Length)];
        Lz4ChunkCodec.Encode(plain, stored, out var written);
        var valid = stored.AsSpan(0, written).ToArray();
        var rng = new Random(10);
        var refused = 0;

        for (var i = 0; i < 300; i++)
        {
            var mutated = valid.ToArray();
            for (var k = 0; k < 1 + (i % 4); k++)
            {
                mutated[rng.Next(mutated.Length)] = (byte)rng.Next(256);
            }

            try
            {
                Lz4ChunkCodec.Decode(ChunkEncoding.Lz4, mutated, plain.Length);
            }
            catch (DropboxException ex)
            {
                Assert.Equal(ErrorKind.DataLoss, ex.Kind);
                refused++;
            }
        }

        // Most mutations break the block structure; the rest decode to wrong bytes that the chunk hash catches.
        Assert.True(refused > 100, $"only {refused} of 300 mutations were refused");
    }

    [Fact]
    public void Raw_input_of_the_wrong_length_is_data_loss()
    {
        var ex = Assert.Throws<DropboxException>(() => Lz4ChunkCodec.Decode(ChunkEncoding.Raw, new byte[10], 11));

        Assert.Equal(ErrorKind.DataLoss, ex.Kind);
    }
}
