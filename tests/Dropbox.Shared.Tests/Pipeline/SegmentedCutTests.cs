using Dropbox.Shared.Chunking;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Pipeline;
using Dropbox.Shared.Tests.Chunking;

namespace Dropbox.Shared.Tests.Pipeline;

/// <summary>
/// A large file is cut in parallel segments (<see cref="SegmentedFileCutter"/>); every case here compares the chunks
/// with the sequential cut of the same bytes. Small chunk limits and segments make many segment edges per case.
/// </summary>
public sealed class SegmentedCutTests
{
    private const int MiB = TestData.MiB;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly ChunkerOptions Small = new(128, 512, 2048);

    [Theory]
    [InlineData(2)]
    [InlineData(8)]
    [InlineData(64)]
    public void A_large_file_reads_ahead_the_same_few_segments_on_any_number_of_cores(int parallelism)
    {
        // Each segment read ahead holds a block of a segment plus a maximum chunk (16 MiB by default): with the
        // read-ahead following the core count, a 1 GiB upload on 8 cores held ~125 MiB of blocks (review of `cut`).
        using var temp = new TempFolder();
        var path = temp.Sub("big.bin");
        File.WriteAllBytes(path, TestData.Random(Small.MaxSize * 8, 1));
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read);
        var pipeline = new ChunkPipeline(new FastCdcChunker(Small), Options(parallelism, Small.MaxSize));

        using var cutter = Assert.IsType<SegmentedFileCutter>(pipeline.CutterFor(file));

        Assert.Equal(Math.Min(parallelism, 2), cutter.Ahead);
    }

    [Fact]
    public async Task Random_inputs_cut_in_segments_give_the_sequential_boundaries_and_ids()
    {
        using var temp = new TempFolder();
        var rng = new Random(20261203);
        var kinds = Enum.GetValues<Kind>();
        var segmentedCases = 0;
        for (var i = 0; i < 240; i++)
        {
            var chunker = new FastCdcChunker(Small);
            var segment = rng.Next(Small.MaxSize, (6 * Small.MaxSize) + 1);
            var size = Size(rng, segment, Small.MaxSize);
            var kind = kinds[i % kinds.Length];
            var data = Make(kind, size, rng.Next());
            var parallelism = 2 + (i % 2);
            var label = $"case {i}: {kind}, {size} bytes, segments of {segment}, {parallelism} workers";

            var (chunks, streamReads) = await CutFileAsync(temp, data, chunker, Options(parallelism, segment)).WaitAsync(Timeout);

            AssertSequential(chunker, data, chunks, label);
            if (size >= 2 * Small.MaxSize + segment)
            {
                // The body came from positional reads: the stream itself read only the end (a few reads of its block).
                Assert.True(streamReads <= 4, $"{label}: {streamReads} stream reads: the file was not cut in segments");
                segmentedCases++;
            }
        }

        Assert.True(segmentedCases > 100, $"{segmentedCases} cases long enough to be cut in segments");
    }

    [Theory]
    [InlineData(24 * MiB, 5 * MiB, 11)]
    [InlineData((40 * MiB) + 777, 4 * MiB, 12)]
    [InlineData((13 * MiB) - 1, 4 * MiB, 13)]
    public async Task Default_limits_and_a_byte_inserted_cut_like_the_sequential_cut(int size, int segment, int seed)
    {
        using var temp = new TempFolder();
        var chunker = new FastCdcChunker();
        var data = TestData.Random(size, seed);
        var inserted = new byte[data.Length + 1];
        inserted[0] = 0x5a;
        data.CopyTo(inserted, 1);

        foreach (var input in new[] { data, inserted })
        {
            var (chunks, _) = await CutFileAsync(temp, input, chunker, Options(2, segment)).WaitAsync(Timeout);
            AssertSequential(chunker, input, chunks, $"{input.Length} bytes");
        }
    }

    [Fact]
    public async Task Zeros_and_long_periods_with_no_shared_boundary_are_cut_like_the_sequential_cut()
    {
        // Forced maximum-size cuts from a segment's start never meet the true ones when the segment is not a multiple of
        // the maximum: the true cut must go on by itself through every segment.
        using var temp = new TempFolder();
        var chunker = new FastCdcChunker(Small);
        foreach (var data in new[] { new byte[200_001], Make(Kind.Periodic, 150_000, 5) })
        {
            var (chunks, _) = await CutFileAsync(temp, data, chunker, Options(2, (3 * Small.MaxSize) + 100)).WaitAsync(Timeout);
            AssertSequential(chunker, data, chunks, $"{data.Length} bytes");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(40_000)]
    public async Task A_file_that_grew_after_its_length_was_seen_is_cut_to_its_new_end(int grownBy)
    {
        using var temp = new TempFolder();
        var chunker = new FastCdcChunker(Small);
        var data = Make(Kind.Random, 100_000, 31);
        var more = Make(Kind.Random, grownBy, 32);
        var path = temp.Sub("grows.bin");
        await File.WriteAllBytesAsync(path, data);

        await using var file = new SyncOnlyFileStream(path);
        var run = new ChunkPipeline(chunker, Options(2, 5000)).ProcessAsync(file); // takes the length now
        await using (var append = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
        {
            await append.WriteAsync(more);
        }

        var chunks = await CollectAsync(run).WaitAsync(Timeout);

        AssertSequential(chunker, [.. data, .. more], chunks, $"grown by {grownBy}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    [InlineData(4999)]
    [InlineData(5000)]
    [InlineData(23_456)]
    [InlineData(99_999)]
    public async Task A_file_that_shrank_after_its_length_was_seen_is_cut_as_far_as_it_goes(int newLength)
    {
        using var temp = new TempFolder();
        var chunker = new FastCdcChunker(Small);
        var data = Make(Kind.Random, 100_000, 33);
        var path = temp.Sub("shrinks.bin");
        await File.WriteAllBytesAsync(path, data);

        await using var file = new SyncOnlyFileStream(path);
        var run = new ChunkPipeline(chunker, Options(2, 5000)).ProcessAsync(file);
        await using (var truncate = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            truncate.SetLength(newLength);
        }

        var chunks = await CollectAsync(run).WaitAsync(Timeout);

        AssertSequential(chunker, data.AsSpan(0, newLength).ToArray(), chunks, $"shrunk to {newLength}");
    }

    [Fact]
    public async Task A_file_that_changes_length_while_read_gives_contiguous_chunks_of_its_bytes()
    {
        using var temp = new TempFolder();
        var chunker = new FastCdcChunker(Small);
        var data = Make(Kind.Random, 400_000, 34);
        var more = Make(Kind.Random, 10_000, 35);
        var path = temp.Sub("changes.bin");

        // Grows after the first chunk: what was read ahead is unchanged, so the cut is the grown file's.
        await File.WriteAllBytesAsync(path, data);
        var grown = await CutChangingAsync(path, chunker, f => f.Write(more)).WaitAsync(Timeout);
        AssertSequential(chunker, [.. data, .. more], grown, "grown while read");

        // Shrinks after the first chunk: segments read ahead keep the old bytes, later reads see the new end.
        await File.WriteAllBytesAsync(path, data);
        var shrunk = await CutChangingAsync(path, chunker, f => f.SetLength(300_000)).WaitAsync(Timeout);
        long offset = 0;
        foreach (var c in shrunk)
        {
            Assert.Equal(offset, c.Offset);
            Assert.True(data.AsSpan((int)offset, c.Length).SequenceEqual(c.Plain), $"chunk at {offset} is not the file's bytes");
            offset += c.Length;
        }

        Assert.InRange(offset, 300_000, data.Length);
    }

    [Fact]
    public async Task A_read_error_in_a_segment_reaches_the_consumer_after_the_chunks_before_it()
    {
        using var temp = new TempFolder();
        var chunker = new FastCdcChunker(Small);
        var data = Make(Kind.Random, 100_000, 36);
        var path = temp.Sub("fails.bin");
        await File.WriteAllBytesAsync(path, data);
        var pipeline = new ChunkPipeline(chunker, Options(2, 5000));
        const long failAt = 52_000; // in the 11th segment

        await using var file = new SyncOnlyFileStream(path);
        using var cutter = new SegmentedFileCutter(file, chunker, 5000, ahead: 2, 16 * MiB, 1000, (handle, into, at) =>
            at + into.Length > failAt ? throw new IOException("simulated read failure") : RandomAccess.Read(handle, into, at));
        var chunks = new List<Cut>();
        var error = await Record.ExceptionAsync(async () =>
        {
            await foreach (var chunk in pipeline.ProcessAsync(cutter).WithCancellation(new CancellationTokenSource(Timeout).Token))
            {
                using (chunk)
                {
                    chunks.Add(new Cut(chunk.Offset, chunk.PlainLength, chunk.Id, chunk.Plain.ToArray()));
                }
            }
        });

        Assert.Equal("simulated read failure", Assert.IsType<IOException>(error).Message);
        var sequential = ChunkingHelpers.Cut(chunker, data);
        Assert.True(chunks.Count > 0 && chunks.Count < sequential.Count, $"{chunks.Count} chunks before the error");
        Assert.Equal(sequential.Take(chunks.Count), chunks.Select(c => c.Length));
        Assert.True(chunks[^1].Offset < failAt);
    }

    [Fact]
    public async Task A_slow_consumer_or_one_that_leaves_early_bounds_what_is_read_ahead()
    {
        using var temp = new TempFolder();
        var chunker = new FastCdcChunker(Small);
        var data = Make(Kind.Random, 2 * MiB, 37);
        var path = temp.Sub("big.bin");
        await File.WriteAllBytesAsync(path, data);
        var options = Options(2, 5000) with { MaxInFlight = 2 };
        long highest = 0;
        long maxAhead = 0;
        var taken = 0;

        await using (var file = new SyncOnlyFileStream(path))
        {
            using var cutter = new SegmentedFileCutter(file, chunker, 5000, ahead: 2, 16 * MiB, 1000, (handle, into, at) =>
            {
                InterlockedMax(ref highest, at + into.Length);
                return RandomAccess.Read(handle, into, at);
            });
            await foreach (var chunk in new ChunkPipeline(chunker, options).ProcessAsync(cutter).WithCancellation(new CancellationTokenSource(Timeout).Token))
            {
                using (chunk)
                {
                    maxAhead = Math.Max(maxAhead, Interlocked.Read(ref highest) - chunk.Offset);
                }

                if (++taken == 200)
                {
                    break;
                }
            }
        }

        // The segment the true cut is in, two ahead, a chunk past the last one, and the few chunks cut but not yet taken.
        Assert.Equal(200, taken);
        Assert.InRange(maxAhead, 1, (4 * 5000) + (6 * Small.MaxSize));
        Assert.True(highest < 200 * Small.MaxSize, $"read to {highest} after 200 chunks");
    }

    private static void InterlockedMax(ref long location, long value)
    {
        var seen = Interlocked.Read(ref location);
        while (value > seen)
        {
            var was = Interlocked.CompareExchange(ref location, value, seen);
            if (was == seen)
            {
                return;
            }

            seen = was;
        }
    }

    [Fact]
    public async Task Cancelling_at_any_moment_ends_the_enumeration()
    {
        using var temp = new TempFolder();
        var path = temp.Sub("big.bin");
        await File.WriteAllBytesAsync(path, TestData.Random(48 * MiB, seed: 38));
        var pipeline = new ChunkPipeline(new FastCdcChunker(), Options(2, 4 * MiB) with { MaxInFlight = 2 });
        var cancelled = 0;

        for (var i = 0; i < 10; i++)
        {
            using var cts = new CancellationTokenSource();
            cts.CancelAfter(i * 4);
            await using var file = new SyncOnlyFileStream(path);
            try
            {
                await CollectAsync(pipeline.ProcessAsync(file, cts.Token)).WaitAsync(Timeout);
            }
            catch (OperationCanceledException)
            {
                cancelled++;
            }
        }

        Assert.True(cancelled > 0);
    }

    private enum Kind
    {
        Random,
        Periodic,
        Zeros,
        Mixed,
        Text,
    }

    private static PipelineOptions Options(int parallelism, int segment) => new()
    {
        Parallelism = parallelism,
        SegmentSize = segment,
        SegmentedCutThreshold = 0,
        Compress = false,
        ReadSize = Math.Max(1, segment / 3),
    };

    /// <summary>Sizes around the edges that matter: tiny, under a segment, segment multiples plus or minus a few bytes, the maximum chunk.</summary>
    private static int Size(Random rng, int segment, int max) => rng.Next(8) switch
    {
        0 => rng.Next(0, max + 2),
        1 => rng.Next(1, segment),
        2 => (segment * rng.Next(1, 8)) + rng.Next(-2, 3),
        3 => (segment * rng.Next(2, 10)) + max + rng.Next(-2, 3),
        _ => rng.Next(segment, 20 * segment),
    };

    /// <summary>Inputs whose boundaries are common (random, text), rare or forced (zeros, a short period repeated), or both in turn.</summary>
    private static byte[] Make(Kind kind, int size, int seed)
    {
        var rng = new Random(seed);
        var data = new byte[size];
        switch (kind)
        {
            case Kind.Random:
                rng.NextBytes(data);
                break;
            case Kind.Periodic:
                var period = new byte[rng.Next(1, 200)];
                rng.NextBytes(period);
                for (var i = 0; i < size; i++)
                {
                    data[i] = period[i % period.Length];
                }

                break;
            case Kind.Zeros:
                break;
            case Kind.Mixed:
                for (var at = 0; at < size;)
                {
                    var run = Math.Min(size - at, rng.Next(1, 12_000));
                    if (rng.Next(2) == 0)
                    {
                        rng.NextBytes(data.AsSpan(at, run));
                    }
                    else
                    {
                        data.AsSpan(at, run).Fill((byte)rng.Next(3));
                    }

                    at += run;
                }

                break;
            case Kind.Text:
                TestData.Text(size, seed).CopyTo(data, 0);
                break;
        }

        return data;
    }

    private static void AssertSequential(IChunker chunker, byte[] data, List<Cut> chunks, string label)
    {
        var lengths = ChunkingHelpers.Cut(chunker, data);
        var ids = ChunkingHelpers.Ids(data, lengths);
        Assert.True(lengths.SequenceEqual(chunks.Select(c => c.Length)), $"{label}: lengths {Show(lengths)} but cut {Show(chunks.Select(c => c.Length))}");
        Assert.True(ids.SequenceEqual(chunks.Select(c => c.Id)), $"{label}: ids differ");
        long offset = 0;
        foreach (var c in chunks)
        {
            Assert.Equal(offset, c.Offset);
            Assert.True(data.AsSpan((int)offset, c.Length).SequenceEqual(c.Plain), $"{label}: bytes differ at {offset}");
            offset += c.Length;
        }
    }

    private static string Show(IEnumerable<int> lengths)
    {
        var list = lengths.ToList();
        return $"({list.Count}) {string.Join(",", list.Take(40))}{(list.Count > 40 ? ",..." : "")}";
    }

    private static async Task<(List<Cut> Chunks, int StreamReads)> CutFileAsync(TempFolder temp, byte[] data, IChunker chunker, PipelineOptions options)
    {
        var path = temp.Sub("input.bin");
        await File.WriteAllBytesAsync(path, data);
        await using var file = new SyncOnlyFileStream(path);
        var chunks = await CollectAsync(new ChunkPipeline(chunker, options).ProcessAsync(file));
        return (chunks, file.Reads);
    }

    private static async Task<List<Cut>> CutChangingAsync(string path, IChunker chunker, Action<FileStream> change)
    {
        await using var file = new SyncOnlyFileStream(path);
        var options = Options(2, 5000) with { MaxInFlight = 2 };
        var result = new List<Cut>();
        await foreach (var chunk in new ChunkPipeline(chunker, options).ProcessAsync(file))
        {
            using (chunk)
            {
                result.Add(new Cut(chunk.Offset, chunk.PlainLength, chunk.Id, chunk.Plain.ToArray()));
            }

            if (result.Count == 1)
            {
                using var writer = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
                writer.Seek(0, SeekOrigin.End);
                change(writer);
            }
        }

        return result;
    }

    private static async Task<List<Cut>> CollectAsync(IAsyncEnumerable<ProcessedChunk> run)
    {
        var result = new List<Cut>();
        await foreach (var chunk in run)
        {
            using (chunk)
            {
                result.Add(new Cut(chunk.Offset, chunk.PlainLength, chunk.Id, chunk.Plain.ToArray()));
            }
        }

        return result;
    }

    private sealed record Cut(long Offset, int Length, ChunkId Id, byte[] Plain);
}
