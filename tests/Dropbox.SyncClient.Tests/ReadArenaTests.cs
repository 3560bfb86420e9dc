using Dropbox.Shared.Chunking;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// An upload group's small files are read into one pooled buffer (<see cref="ReadArena"/>): a chunk's bytes must stay
/// its own until it is disposed, whatever else is read meanwhile, and slices taken in parallel never overlap.
/// </summary>
public sealed class ReadArenaTests : IDisposable
{
    // Over 8 MiB: the pool's 16 MiB bucket, which no upload group of the other tests (a few KiB each) uses, so an array
    // returned too early is the one the next arena of this size gets.
    private const int ArenaBytes = 9 << 20;

    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Slices_taken_in_parallel_never_overlap_and_a_full_arena_takes_no_more()
    {
        using var arena = ReadArena.For(64 * 1000)!;
        var slices = new Memory<byte>[1000];
        Parallel.For(0, slices.Length, i =>
        {
            Assert.True(arena.TryTake(64, out slices[i]));
            slices[i].Span.Fill((byte)i);
        });

        for (var i = 0; i < slices.Length; i++)
        {
            Assert.True(slices[i].Span.IndexOfAnyExcept((byte)i) < 0, $"slice {i} was written by another slice's reader");
        }

        while (arena.TryTake(64, out _))
        {
        }

        Assert.True(arena.Free < 64, $"{arena.Free} bytes left after the arena said no");
        Assert.Null(ReadArena.For(0));
        Assert.Null(ReadArena.For(ReadArena.MaxBytes + 1L));
    }

    [Fact]
    public void Takes_in_parallel_that_run_out_of_room_never_overlap_and_never_pass_the_end()
    {
        // Bounded: 200 arenas of 16 KiB, six threads each taking slices of 1-3000 bytes until most takes fail.
        for (var round = 0; round < 200; round++)
        {
            using var arena = ReadArena.For(1 << 14)!;
            var taken = new System.Collections.Concurrent.ConcurrentBag<Memory<byte>>();
            Parallel.For(0, 6, t =>
            {
                var random = new Random(round * 31 + t);
                for (var k = 0; k < 40; k++)
                {
                    if (arena.TryTake(random.Next(1, 3000), out var slice))
                    {
                        taken.Add(slice);
                    }
                }
            });

            var spans = taken.Select(s => System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(s, out var a) ? (a.Offset, a.Count) : throw new InvalidOperationException()).OrderBy(s => s.Offset).ToList();
            for (var i = 1; i < spans.Count; i++)
            {
                Assert.True(spans[i - 1].Offset + spans[i - 1].Count <= spans[i].Offset, $"round {round}: slices {spans[i - 1]} and {spans[i]} overlap");
            }

            Assert.Equal(spans.Sum(s => s.Count), (1 << 14) - arena.Free);
        }
    }

    [Fact]
    public async Task A_chunk_keeps_its_bytes_after_the_reader_lets_go_until_it_is_disposed()
    {
        var content = TestClient.RandomBytes(300_000, 31);
        var path = Path.Combine(_dir.Path, "f.bin");
        await File.WriteAllBytesAsync(path, content);
        var hasher = new FileHasher(new PipelineChunkSource(new FastCdcChunker(TestClient.SmallChunks), compress: true, parallelism: 2));
        var stat = new FileInfo(path);

        var arena = ReadArena.For(ArenaBytes)!;
        var read = await hasher.TryReadAsync(path, stat.Length, stat.LastWriteTimeUtc.Ticks, CancellationToken.None, arena);
        Assert.NotNull(read);
        var chunks = read.Value.Chunks;
        Assert.True(chunks.Count > 2, $"{chunks.Count} chunks: the test needs several");
        arena.Dispose();
        arena.Dispose(); // the reader's reference goes once

        // Every chunk but the last disposed twice: each lets go of one reference, not two, so the last still holds it.
        foreach (var c in chunks[..^1])
        {
            c.Dispose();
            c.Dispose();
        }

        ScribbleOverNewArenas();

        var last = chunks[^1];
        Assert.True(content.AsSpan((int)last.Offset).SequenceEqual(last.Plain.Span), "a chunk's bytes were overwritten while it was held");
        last.Dispose();
    }

    private static void ScribbleOverNewArenas()
    {
        for (var i = 0; i < 4; i++)
        {
            using var other = ReadArena.For(ArenaBytes)!;
            while (other.TryTake(1 << 20, out var slice))
            {
                slice.Span.Fill(0xEE);
            }
        }
    }
}
