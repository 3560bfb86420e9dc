using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;

namespace Dropbox.StorageNode.Tests.Engine;

public sealed class SegmentAppenderTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private string NewFile(string name)
    {
        var path = Path.Combine(_dir.Path, name);
        File.WriteAllBytes(path, []);
        return path;
    }

    private static byte[] ReadPrefix(string path, long length)
    {
        var all = File.ReadAllBytes(path);
        Assert.True(all.Length >= length, $"file has {all.Length} bytes, expected at least {length}");
        return all.AsSpan(0, (int)length).ToArray();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Odd_sized_appends_over_many_flushes_land_byte_for_byte(bool direct)
    {
        var path = NewFile("a.seg");
        var rng = new Random(7);
        var expected = new MemoryStream();
        var appender = SegmentAppender.Open(path, 0, direct);
        if (direct && OperatingSystem.IsLinux())
        {
            // The file system under the test directory supports O_DIRECT on the machines this runs on; if it stops
            // doing so this test should say so rather than quietly test buffered writes twice.
            Assert.True(appender.IsDirect, "O_DIRECT was not enabled for the segment");
        }

        // Sizes around the block size and past the 4 MiB staging buffer, flushed after each.
        foreach (var size in new[] { 1, 63, 4095, 4096, 4097, 10_000, 5 * 1024 * 1024 + 17, 3, 1 << 20 })
        {
            var bytes = new byte[size];
            rng.NextBytes(bytes);
            appender.Mark();
            appender.Append(bytes);
            appender.Flush();
            expected.Write(bytes);

            Assert.Equal(expected.Length, appender.Length);
            Assert.Equal(expected.ToArray(), ReadPrefix(path, expected.Length));
            var onDisk = new FileInfo(path).Length;
            if (appender.IsDirect)
            {
                Assert.Equal(0, onDisk % SegmentAppender.BlockSize);
            }
            else
            {
                Assert.Equal(expected.Length, onDisk);
            }
        }

        appender.Close();
        Assert.Equal(expected.Length, new FileInfo(path).Length);
        Assert.Equal(expected.ToArray(), File.ReadAllBytes(path));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Reserved_and_appended_bytes_mixed_in_one_batch_land_byte_for_byte(bool direct)
    {
        var path = NewFile("r.seg");
        var rng = new Random(11);
        var expected = new MemoryStream();
        var appender = SegmentAppender.Open(path, 0, direct);
        appender.Mark();

        // Each item: its size, whether it is appended without a reservation (A), reserved (R) or refused a
        // reservation and appended (X), and whether granting it must first write what is staged (mid-batch). A
        // reservation that would end the staging buffer exactly, one after an append, reservations that cross the
        // buffer's end, the largest one granted and the smallest refused.
        const int S = SegmentAppender.StagingBytes;
        var items = new (int Size, char How, bool Writes)[]
        {
            (4095, 'R', false), (8193, 'A', false), (S - 12288, 'R', true), (1, 'R', false), (3 << 20, 'R', true),
            (100, 'A', false), (3 << 20, 'R', true), (S - 4097, 'R', true), (S - 4096, 'X', false), (S, 'X', false),
            (17, 'R', false),
        };
        long reservations = 0, writes = 0;
        foreach (var (size, how, flushes) in items)
        {
            var bytes = new byte[size];
            rng.NextBytes(bytes);
            var length = appender.Length;
            Span<byte> staged = default;
            var granted = how != 'A' && appender.TryReserve(size, out staged);
            Assert.True(granted == (how == 'R'), $"TryReserve({size}) returned {granted}");
            reservations += granted ? 1 : 0;
            writes += flushes ? 1 : 0;
            Assert.Equal((reservations, writes), (appender.Reservations, appender.ReserveWrites));
            if (granted)
            {
                Assert.Equal(size, staged.Length);
                bytes.CopyTo(staged);
            }
            else
            {
                Assert.Equal(length, appender.Length);
                appender.Append(bytes);
            }

            expected.Write(bytes);
            Assert.Equal(expected.Length, appender.Length);
        }

        appender.Flush();
        Assert.Equal(expected.ToArray(), ReadPrefix(path, expected.Length));
        appender.Close();
        Assert.Equal(expected.ToArray(), File.ReadAllBytes(path));
    }

    [Fact]
    public void A_batch_with_reservations_that_wrote_staged_bytes_rolls_back_to_its_mark()
    {
        var path = NewFile("s.seg");
        var first = new byte[6000];
        new Random(3).NextBytes(first);
        var appender = SegmentAppender.Open(path, 0, preferDirect: true);
        appender.Append(first);
        appender.Flush();
        appender.Mark();

        Assert.True(appender.TryReserve(3 << 20, out _));
        Assert.True(appender.TryReserve(3 << 20, out _)); // writes the first reservation
        appender.Rollback();

        Assert.Equal(first.Length, appender.Length);
        Assert.Equal(first.Length, new FileInfo(path).Length);
        appender.Close();
        Assert.Equal(first, File.ReadAllBytes(path));
    }

    [Fact]
    public void Reopening_at_an_unaligned_length_keeps_the_bytes_before_it()
    {
        var path = NewFile("b.seg");
        var first = new byte[6000];
        var second = new byte[9000];
        new Random(1).NextBytes(first);
        new Random(2).NextBytes(second);
        var appender = SegmentAppender.Open(path, 0, preferDirect: true);
        appender.Append(first);
        appender.Flush();
        appender.Close();

        var reopened = SegmentAppender.Open(path, first.Length, preferDirect: true);
        reopened.Mark();
        reopened.Append(second);
        reopened.Flush();
        reopened.Close();

        Assert.Equal(first.Concat(second).ToArray(), File.ReadAllBytes(path));
    }

    [Fact]
    public void Rollback_returns_to_the_mark_and_the_next_batch_overwrites_the_failed_one()
    {
        var path = NewFile("c.seg");
        var kept = new byte[5000];
        var failed = new byte[5 * 1024 * 1024];
        var next = new byte[3000];
        new Random(3).NextBytes(kept);
        new Random(4).NextBytes(failed);
        new Random(5).NextBytes(next);
        var appender = SegmentAppender.Open(path, 0, preferDirect: true);
        appender.Append(kept);
        appender.Flush();

        appender.Mark();
        appender.Append(failed);
        appender.Flush();
        appender.Rollback();

        Assert.Equal(kept.Length, appender.Length);
        appender.Mark();
        appender.Append(next);
        appender.Flush();
        appender.Close();
        Assert.Equal(kept.Concat(next).ToArray(), File.ReadAllBytes(path));
    }

    [Fact]
    public async Task Zero_padding_left_by_a_crash_is_cut_off_quietly_and_every_chunk_stays_readable()
    {
        var options = new EngineOptions
        {
            Directory = _dir.Path,
            CheckpointInterval = TimeSpan.Zero,
            IndexSizeBytes = 1L << 16,
            IndexMemoryBytes = 1L << 20,
            IndexPageSizeBytes = 1L << 16,
        };
        var chunks = Enumerable.Range(0, 5).Select(i => TestChunks.Random(1000 + i, 300 + i)).ToList();
        await using (var engine = ChunkEngine.Open(options))
        {
            foreach (var (id, bytes) in chunks)
            {
                await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
            }
        }

        // What a SIGKILL leaves: the last block written padded with zeros, and no clean-shutdown positions.
        var segment = Directory.GetFiles(Path.Combine(_dir.Path, "segments")).Single();
        var logical = new FileInfo(segment).Length;
        var padded = (logical + SegmentAppender.BlockSize - 1) / SegmentAppender.BlockSize * SegmentAppender.BlockSize;
        Assert.True(padded > logical);
        using (var stream = new FileStream(segment, FileMode.Open))
        {
            stream.SetLength(padded);
        }

        File.Delete(Path.Combine(_dir.Path, "index", "positions"));

        await using var reopened = ChunkEngine.Open(options);

        Assert.Equal(logical, new FileInfo(segment).Length);
        Assert.Equal(chunks.Count, reopened.GetStats().ChunkCount);
        foreach (var (id, bytes) in chunks)
        {
            using var chunk = await reopened.ReadAsync(id, CancellationToken.None);
            Assert.NotNull(chunk);
            Assert.Equal(bytes, chunk.Data.ToArray());
        }

        // And appending goes on right after the last record, not after the padding.
        var more = TestChunks.Random(777, 999);
        await reopened.AppendAsync(more.Id, ChunkEncoding.Raw, more.Bytes.Length, more.Bytes, CancellationToken.None);
        using var read = await reopened.ReadAsync(more.Id, CancellationToken.None);
        Assert.Equal(more.Bytes, read!.Data.ToArray());
    }
}
