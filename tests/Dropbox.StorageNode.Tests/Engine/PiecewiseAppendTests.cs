using System.Buffers;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Engine;

/// <summary>
/// Chunks handed to the engine and the store in pieces (as an HTTP body sits in the connection's pipe): stored whole,
/// through either of the writer's paths (staged in one piece, or appended piece by piece behind a streamed header),
/// hashed over every piece, and owned by the engine once the append returns.
/// </summary>
public sealed class PiecewiseAppendTests : IDisposable
{
    private readonly TempFolder _dir = new();

    private EngineOptions Options => TestChunks.SmallEngine(_dir.Path) with { SegmentMaxBytes = 16L << 20 };

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(300_000, true)]
    [InlineData(6 * 1024 * 1024, false)]
    public async Task A_chunk_in_pieces_is_stored_whole_and_survives_a_reopen_however_it_is_staged(int size, bool staged)
    {
        var (id, bytes) = TestChunks.Random(size, size);
        await using (var engine = ChunkEngine.Open(Options))
        {
            var reservations = engine.ActiveAppender!.Reservations;

            var outcome = await engine.AppendAsync(id, ChunkEncoding.Raw, size, Pieces(bytes, 7), CancellationToken.None);

            Assert.Equal(AppendOutcome.Stored, outcome);
            Assert.Equal(staged ? reservations + 1 : reservations, engine.ActiveAppender!.Reservations);
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
        }

        // Recovery checks each record's hash: the header hashed over the pieces matches the bytes on disk.
        File.Delete(Path.Combine(_dir.Path, "index", "positions"));
        await using var reopened = ChunkEngine.Open(Options);
        Assert.Equal(bytes, await TestChunks.ReadAllAsync(reopened, id));
    }

    [Fact]
    public async Task Once_an_append_returns_the_engine_no_longer_reads_the_callers_pieces()
    {
        var (id, bytes) = TestChunks.Random(500_000, 3);
        var pieces = Split(bytes.ToArray(), 5);
        var dupBytes = bytes.ToArray();
        var dupPieces = Split(dupBytes, 3);
        await using var engine = ChunkEngine.Open(Options);

        await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, TestSequences.Of(pieces), CancellationToken.None);

        // A put of a chunk already held is skipped, not copied: its pieces must not be held either.
        await engine.AppendAsync(id, ChunkEncoding.Raw, dupBytes.Length, TestSequences.Of(dupPieces), CancellationToken.None);

        // The caller reuses its buffers (a pipe hands them to the next request): what is stored does not change.
        foreach (var piece in pieces.Concat(dupPieces))
        {
            piece.AsSpan().Fill(0xEE);
        }

        var other = TestChunks.Random(100_000, 4);
        await engine.AppendAsync(other.Id, ChunkEncoding.Raw, other.Bytes.Length, other.Bytes, CancellationToken.None);
        Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(250_000)]
    [InlineData(499_999)]
    public void Verify_hashes_every_piece_of_a_body_in_pieces(int flipped)
    {
        var (id, bytes) = TestChunks.Random(500_000, 5);
        ChunkStore.Verify(id, ChunkEncoding.Raw, bytes.Length, Pieces(bytes, 9));

        var tampered = bytes.ToArray();
        tampered[flipped] ^= 1;

        var refused = Assert.Throws<DropboxException>(() => ChunkStore.Verify(id, ChunkEncoding.Raw, bytes.Length, Pieces(tampered, 9)));
        Assert.Equal(ErrorKind.DataLoss, refused.Kind);
    }

    [Fact]
    public void Verify_decodes_an_lz4_body_in_pieces_and_checks_its_plain_bytes()
    {
        var (id, plain) = TestChunks.Compressible(1_000_000, 6);
        var encoded = new byte[K4os.Compression.LZ4.LZ4Codec.MaximumOutputSize(plain.Length)];
        encoded = encoded[..K4os.Compression.LZ4.LZ4Codec.Encode(plain, encoded)];

        ChunkStore.Verify(id, ChunkEncoding.Lz4, plain.Length, Pieces(encoded, 4));
        var other = TestChunks.Compressible(1_000_000, 7).Id;
        Assert.Equal(ErrorKind.DataLoss, Assert.Throws<DropboxException>(() => ChunkStore.Verify(other, ChunkEncoding.Lz4, plain.Length, Pieces(encoded, 4))).Kind);
    }

    private static ReadOnlySequence<byte> Pieces(byte[] bytes, int count) => TestSequences.Of(Split(bytes.ToArray(), count));

    /// <summary>Cuts <paramref name="bytes"/> into <paramref name="count"/> uneven pieces, each its own array.</summary>
    private static List<byte[]> Split(byte[] bytes, int count)
    {
        var pieces = new List<byte[]>();
        var offset = 0;
        for (var i = 0; i < count; i++)
        {
            var length = i == count - 1 ? bytes.Length - offset : (bytes.Length / count) + (i % 2 == 0 ? 1_001 : -997);
            pieces.Add(bytes.AsSpan(offset, length).ToArray());
            offset += length;
        }

        return pieces;
    }
}
