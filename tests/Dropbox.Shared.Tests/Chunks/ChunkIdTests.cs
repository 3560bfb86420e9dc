using System.Text;
using Dropbox.Shared.Chunks;

namespace Dropbox.Shared.Tests.Chunks;

public sealed class ChunkIdTests
{
    [Theory]
    [InlineData("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    public void Compute_matches_the_sha256_test_vectors(string input, string expected)
    {
        Assert.Equal(expected, ChunkId.Compute(Encoding.ASCII.GetBytes(input)).ToString());
    }

    [Fact]
    public void Compute_matches_the_million_a_vector()
    {
        var input = Encoding.ASCII.GetBytes(new string('a', 1_000_000));

        Assert.Equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", ChunkId.Compute(input).ToString());
    }

    [Fact]
    public void Parse_and_format_round_trip_in_either_case()
    {
        const string hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

        var lower = ChunkId.Parse(hex);
        var upper = ChunkId.Parse(hex.ToUpperInvariant());
        Span<char> buffer = stackalloc char[ChunkId.HexLength];

        Assert.Equal(lower, upper);
        Assert.Equal(hex, lower.ToString());
        Assert.Equal(hex[..12], lower.ToShortString());
        Assert.True(lower.TryFormat(buffer, out var written));
        Assert.Equal(hex, buffer[..written].ToString());
        Assert.Equal(lower, new ChunkId(lower.ToArray()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a")]
    [InlineData("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015adx")]
    [InlineData("zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    public void TryParse_refuses_anything_but_64_hex_digits(string text)
    {
        Assert.False(ChunkId.TryParse(text, out var id));
        Assert.True(id.IsEmpty);
        Assert.Throws<FormatException>(() => ChunkId.Parse(text));
    }

    [Fact]
    public void Ids_compare_as_their_bytes()
    {
        var low = ChunkId.Parse(new string('0', 63) + "1");
        var mid = ChunkId.Parse("00000000000000010000000000000000" + new string('0', 32));
        var high = ChunkId.Parse("f" + new string('0', 63));

        Assert.True(low.CompareTo(mid) < 0);
        Assert.True(mid.CompareTo(high) < 0);
        Assert.True(high.CompareTo(low) > 0);
        Assert.Equal(0, mid.CompareTo(ChunkId.Parse(mid.ToString())));
        Assert.True(low != high);
        Assert.Equal(new[] { low, mid, high }, new[] { high, low, mid }.Order());
    }

    [Fact]
    public void Reading_the_wrong_number_of_bytes_is_refused()
    {
        Assert.False(ChunkId.TryRead(new byte[31], out _));
        Assert.Throws<ArgumentException>(() => new ChunkId(new byte[33]));
    }
}
