using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// The domain checks its own input: a caller that builds <see cref="ChunkRef"/>s without the wire mapping still cannot
/// hand an upload or a window a chunk of an undefined encoding or an out-of-range size.
/// </summary>
public sealed class DomainChunkValidationTests
{
    private static readonly ChunkRef Good = StoreHarness.Chunk(1);

    public static TheoryData<byte> UndefinedEncodings => [2, 9, 255];

    public static TheoryData<int, int> OutOfRangeSizes => new()
    {
        { 0, 1000 },
        { -1, 1000 },
        { int.MinValue, 1000 },
        { Limits.MaxChunkSize + 1, 1000 },
        { 1000, 0 },
        { 1000, -5 },
        { 1000, int.MaxValue },
    };

    [Theory]
    [MemberData(nameof(UndefinedEncodings))]
    public void An_upload_refuses_a_chunk_of_an_undefined_encoding(byte encoding)
    {
        var bad = Good with { Id = StoreHarness.Chunk(2).Id, Encoding = (ChunkEncoding)encoding };

        var ex = Assert.Throws<DropboxException>(() => FileUpload.Create("f", 2000, 1, [Good, bad], 0, "d"));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.StartsWith("Chunk #1 ", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"unknown encoding {encoding}", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(UndefinedEncodings))]
    public void A_window_refuses_a_chunk_of_an_undefined_encoding(byte encoding)
    {
        var bad = Good with { Encoding = (ChunkEncoding)encoding };

        var ex = Assert.Throws<DropboxException>(() => ChunkWindow.Create("f", 10_000, 0, [bad]));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.Contains($"unknown encoding {encoding}", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(OutOfRangeSizes))]
    public void An_upload_and_a_window_refuse_a_chunk_size_out_of_range(int size, int storedSize)
    {
        var bad = new ChunkRef(Good.Id, size, ChunkEncoding.Lz4, storedSize);

        var upload = Assert.Throws<DropboxException>(() => FileUpload.Create("f", unchecked((ulong)size), 1, [bad], 0, "d"));
        var window = Assert.Throws<DropboxException>(() => ChunkWindow.Create("f", Limits.MaxFileSize, 0, [bad]));

        Assert.All([upload, window], ex => Assert.Equal(ErrorKind.InvalidArgument, ex.Kind));
        Assert.All([upload, window], ex => Assert.StartsWith("Chunk #0 ", ex.Message, StringComparison.Ordinal));
    }

    [Fact]
    public void Both_defined_encodings_are_accepted()
    {
        var lz4 = new ChunkRef(StoreHarness.Chunk(3).Id, 1000, ChunkEncoding.Lz4, 400);

        var upload = FileUpload.Create("f", 2000, 1, [Good, lz4], 0, "d");

        Assert.Equal([Good, lz4], upload.Chunks);
    }
}
