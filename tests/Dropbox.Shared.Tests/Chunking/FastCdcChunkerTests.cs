using System.Security.Cryptography;
using Dropbox.Shared.Chunking;
using Xunit.Abstractions;
using static Dropbox.Shared.Tests.Chunking.ChunkingHelpers;

namespace Dropbox.Shared.Tests.Chunking;

public sealed class FastCdcChunkerTests(ITestOutputHelper output)
{
    private const int MiB = TestData.MiB;

    // 64 MiB of random data cut with the defaults; shared because it is costly to build and cut.
    private static readonly Lazy<(byte[] Data, List<int> Lengths)> Big = new(() =>
    {
        var data = TestData.Random(64 * MiB, seed: 20261123);
        return (data, Cut(new FastCdcChunker(), data));
    });

    [Fact]
    public void Chunks_concatenate_back_to_the_input()
    {
        var (data, lengths) = Big.Value;

        Assert.Equal(data.Length, lengths.Sum(n => (long)n));
        var ids = Ids(data, lengths);
        using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var pos = 0;
        foreach (var n in lengths)
        {
            whole.AppendData(data, pos, n);
            pos += n;
        }

        Assert.Equal(SHA256.HashData(data), whole.GetHashAndReset());
        Assert.Equal(lengths.Count, ids.Count);
    }

    [Fact]
    public void All_chunks_but_the_last_are_within_min_and_max()
    {
        var (_, lengths) = Big.Value;
        var o = ChunkerOptions.Default;

        for (var i = 0; i < lengths.Count - 1; i++)
        {
            Assert.InRange(lengths[i], o.MinSize, o.MaxSize);
        }

        Assert.InRange(lengths[^1], 1, o.MaxSize);
    }

    [Fact]
    public void Average_chunk_size_is_near_the_configured_average()
    {
        var (_, lengths) = Big.Value;

        var mean = lengths.Average();
        output.WriteLine($"{lengths.Count} chunks, mean {mean / MiB:F2} MiB, min {lengths.Min()}, max {lengths.Max()}");
        Assert.InRange(mean, 0.6 * MiB, 1.6 * MiB);
        Assert.True(lengths.Count(n => n == ChunkerOptions.Default.MaxSize) < lengths.Count / 10, "too many forced cuts at max size");
    }

    [Fact]
    public void Same_input_twice_gives_the_same_boundaries()
    {
        var data = TestData.Random(8 * MiB, seed: 1);

        var first = Cut(new FastCdcChunker(), data);
        var second = Cut(new FastCdcChunker(), data.ToArray());

        Assert.Equal(first, second);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4093)]
    [InlineData(65536)]
    [InlineData(3 * 1024 * 1024)]
    public void Boundaries_do_not_depend_on_how_the_data_arrives(int step)
    {
        // Byte-by-byte arrival rescans from the minimum each time, so it gets small sizes to stay quick.
        var data = TestData.Random(step == 1 ? 64 * 1024 : 6 * MiB, seed: 2);
        var options = step == 1 ? new ChunkerOptions(64, 256, 1024) : ChunkerOptions.Default;

        var whole = Cut(new FastCdcChunker(options), data);
        var streamed = CutStreaming(new FastCdcChunker(options), data, step);

        Assert.Equal(whole, streamed);
    }

    [Fact]
    public void Boundaries_are_pinned_forever()
    {
        // Changing the gear table, masks or loop would change every chunk id ever stored, defeating dedup
        // against existing data. These values were recorded from the first implementation.
        var data = TestData.Random(8 * MiB, seed: 42);

        var lengths = Cut(new FastCdcChunker(), data);

        Assert.Equal(PinnedLengths, lengths);
        Assert.Equal(PinnedGear, GearTable.Values[..4]);
    }

    [Fact]
    public void One_byte_inserted_at_the_front_changes_at_most_two_chunks_but_every_fixed_chunk()
    {
        var (data, lengths) = Big.Value;
        var edited = new byte[data.Length + 1];
        edited[0] = 0x5A;
        data.CopyTo(edited, 1);

        var before = Ids(data, lengths);
        var after = Ids(edited, Cut(new FastCdcChunker(), edited));
        var changed = NewIds(before, after);

        var fixedChunker = new FixedSizeChunker(1 * MiB);
        var fixedBefore = Ids(data, Cut(fixedChunker, data));
        var fixedAfter = Ids(edited, Cut(fixedChunker, edited));
        var fixedChanged = NewIds(fixedBefore, fixedAfter);
        output.WriteLine($"insert at front: FastCDC {changed} of {after.Count} chunk ids new; fixed 1 MiB {fixedChanged} of {fixedAfter.Count} new");

        Assert.InRange(changed, 1, 2);
        Assert.Equal(fixedAfter.Count, fixedChanged); // a shift moves every fixed-size chunk
    }

    [Fact]
    public void One_byte_changed_in_the_middle_changes_at_most_two_chunks()
    {
        var (data, lengths) = Big.Value;
        var edited = data.ToArray();
        edited[edited.Length / 2] ^= 0xFF;

        var before = Ids(data, lengths);
        var after = Ids(edited, Cut(new FastCdcChunker(), edited));
        var changed = NewIds(before, after);

        var fixedChunker = new FixedSizeChunker(1 * MiB);
        var fixedChanged = NewIds(Ids(data, Cut(fixedChunker, data)), Ids(edited, Cut(fixedChunker, edited)));
        output.WriteLine($"change in middle: FastCDC {changed} of {after.Count} new; fixed 1 MiB {fixedChanged} new");

        Assert.InRange(changed, 1, 2);
        Assert.Equal(1, fixedChanged);
    }

    [Theory]
    [InlineData(64, 1024, 8192, 1)]
    [InlineData(64, 4096, 262144, 2)]
    [InlineData(1024, 65536, 1048576, 3)]
    [InlineData(16384, 131072, 1048576, 4)]
    [InlineData(262144, 1048576, 4194304, 5)]
    public void Optimized_scan_cuts_exactly_where_the_plain_definition_does(int min, int avg, int max, int seed)
    {
        var options = new ChunkerOptions(min, avg, max);
        var chunker = new FastCdcChunker(options);
        var data = TestData.Random(6 * MiB, seed);

        var pos = 0;
        var chunks = 0;
        while (pos < data.Length)
        {
            var rest = data.AsSpan(pos);
            var expected = ReferenceFastCdc.FindBoundary(rest, options, isFinalBlock: true);
            Assert.Equal(expected, chunker.FindBoundary(rest, isFinalBlock: true));
            pos += expected;
            chunks++;
        }

        Assert.True(chunks > 2);
    }

    [Fact]
    public void Short_data_that_is_not_final_asks_for_more()
    {
        var chunker = new FastCdcChunker();
        var data = TestData.Random(ChunkerOptions.Default.MinSize, seed: 3);

        Assert.Equal(0, chunker.FindBoundary(data, isFinalBlock: false));
        Assert.Equal(data.Length, chunker.FindBoundary(data, isFinalBlock: true));
        Assert.Equal(0, chunker.FindBoundary(ReadOnlySpan<byte>.Empty, isFinalBlock: true));
    }

    [Fact]
    public void Data_without_any_cut_point_is_cut_at_the_maximum()
    {
        var chunker = new FastCdcChunker(new ChunkerOptions(64, 1024, 4096));
        var zeros = new byte[10_000]; // constant input: the gear hash settles on one value that is no cut point

        var lengths = Cut(chunker, zeros);

        Assert.All(lengths.SkipLast(1), n => Assert.Equal(4096, n));
        Assert.Equal(4096, chunker.FindBoundary(zeros, isFinalBlock: false));
    }

    [Theory]
    [InlineData(63, 100, 200)]
    [InlineData(1000, 999, 2000)]
    [InlineData(100, 200, 199)]
    public void Invalid_options_are_refused(int min, int avg, int max)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChunkerOptions(min, avg, max));
    }

    [Fact]
    public void Fixed_chunker_cuts_every_size_bytes()
    {
        var chunker = new FixedSizeChunker(1000);
        var data = new byte[2500];

        Assert.Equal([1000, 1000, 500], Cut(chunker, data));
        Assert.Equal(0, chunker.FindBoundary(data.AsSpan(0, 999), isFinalBlock: false));
    }

    private static readonly int[] PinnedLengths = [1183652, 1343127, 1107209, 1269191, 363564, 341984, 1060269, 1719612];

    private static readonly ulong[] PinnedGear = [0x263F9868B3700B71UL, 0x11C61726528FAA8AUL, 0xE0677F656EC4206DUL, 0x38FF5E394E5869D8UL];
}
