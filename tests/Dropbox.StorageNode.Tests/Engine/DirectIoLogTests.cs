using System.Collections.Concurrent;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Tests.Engine.Faults;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Tests.Engine;

/// <summary>
/// The engine's fallbacks from direct I/O are logged: once when it opens, whether direct I/O is off by configuration
/// (information, 2016) or refused by the file system (warning, 2017), however many segments it has; and once per segment
/// whose direct reads a failed or lying direct read turns off (warning, 2018), however many reads fail; and once per
/// engine where the file system took O_DIRECT but refuses the direct writes (warning, 2019), however many segments'
/// appenders fall back. Real files
/// (ext4), a real engine; <see cref="FaultyFiles"/> refuses O_DIRECT or fails direct reads where a test asks.
/// </summary>
public sealed class DirectIoLogTests : DirectIoLogFixture
{
    private const int Off = 2016;
    private const int Unavailable = 2017;

    private static List<(ChunkId Id, byte[] Bytes)> LargeChunks(int count, int seed) =>
        Enumerable.Range(0, count).Select(i => TestChunks.Random(Segment.DirectReadMinBytes + (i * 50_001), seed + i)).ToList();

    private static async Task AppendAllAsync(ChunkEngine engine, IEnumerable<(ChunkId Id, byte[] Bytes)> chunks)
    {
        foreach (var (id, bytes) in chunks)
        {
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Many_failing_direct_reads_of_one_segment_log_that_its_direct_reads_are_off_exactly_once(bool refused)
    {
        // Arrange: one segment of large records, then every direct read fails (EINVAL) or returns a flipped byte.
        await using var engine = ChunkEngine.Open(Options with { SegmentMaxBytes = 64L << 20 }, Log);
        var chunks = LargeChunks(8, 100);
        await AppendAllAsync(engine, chunks);
        // The first 3 direct reads wait for one another, so that 3 fail at once, before any of them turns direct reads off.
        using var together = new CountdownEvent(3);
        var met = 0;
        void MeetTheOthers()
        {
            if (Interlocked.Increment(ref met) <= 3)
            {
                together.Signal();
                Assert.True(together.Wait(TimeSpan.FromSeconds(20)), "3 direct reads never ran at once");
            }
        }

        if (refused)
        {
            Files.FailDirectRead = () =>
            {
                MeetTheOthers();
                return true;
            };
        }
        else
        {
            Files.AfterDirectRead = bytes =>
            {
                MeetTheOthers();
                bytes[bytes.Length / 2] ^= 0x08;
            };
        }

        // Act: 6 readers at once, each reading every chunk 3 times.
        var errors = new ConcurrentQueue<string>();
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var readers = Enumerable.Range(0, 6).Select(r => Task.Run(async () =>
        {
            await start.Task;
            for (var i = 0; i < 3 * chunks.Count; i++)
            {
                var (id, bytes) = chunks[(r + i) % chunks.Count];
                using var chunk = await engine.ReadAsync(id, CancellationToken.None);
                if (chunk is null || !chunk.Data.Span.SequenceEqual(bytes))
                {
                    errors.Enqueue($"wrong bytes for {id.ToShortString()}");
                }
            }
        })).ToList();
        start.SetResult();
        await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(60));

        // Assert: every read served its bytes; the fallback was logged once, as a warning naming segment 1 and why.
        Assert.Empty(errors);
        Assert.True(Files.DirectReadAttempts >= 3, $"{Files.DirectReadAttempts} direct reads were attempted: the test proves nothing");
        var logged = Assert.Single(Logged(SegmentOff));
        Assert.Equal(LogLevel.Warning, logged.Level);
        Assert.StartsWith("Direct reads of segment 1 are off from now on", logged.Message, StringComparison.Ordinal);
        if (refused)
        {
            Assert.Contains("failed", logged.Message, StringComparison.Ordinal);
            Assert.IsType<IOException>(logged.Exception);
        }
        else
        {
            Assert.Contains("did not check out", logged.Message, StringComparison.Ordinal);
            Assert.Null(logged.Exception);
        }

        // Later reads try no direct read, and log nothing more.
        var attempts = Files.DirectReadAttempts;
        foreach (var (id, bytes) in chunks)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
        }

        Assert.Equal(attempts, Files.DirectReadAttempts);
        Assert.Single(Logged(SegmentOff));
    }

    [Fact]
    public async Task Direct_io_off_by_configuration_is_logged_once_at_open_as_information_and_no_segment_is_direct()
    {
        // Arrange: several segments written with direct I/O on.
        var chunks = LargeChunks(12, 200);
        await using (var first = ChunkEngine.Open(Options))
        {
            await AppendAllAsync(first, chunks);
        }

        Assert.True(Directory.GetFiles(Path.Combine(Folder, "segments")).Length >= 3);
        Log.Entries.Clear();

        // Act: reopened with both off (as --direct-io off sets them), then every chunk read and one more written.
        await using var engine = ChunkEngine.Open(Options with { DirectReads = false, DirectWrites = false }, Log);
        foreach (var (id, bytes) in chunks)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
        }

        var extra = TestChunks.Random(Segment.DirectReadMinBytes, 299);
        await engine.AppendAsync(extra.Id, ChunkEncoding.Raw, extra.Bytes.Length, extra.Bytes, CancellationToken.None);

        // Assert: one information line for the node, no warning; reads and writes were buffered.
        var logged = Assert.Single(Logged(Off));
        Assert.Equal(LogLevel.Information, logged.Level);
        Assert.Equal("Direct reads and writes are off by configuration (--direct-io off): segment reads and writes go through the page cache", logged.Message);
        Assert.Empty(Logged(Unavailable));
        Assert.Equal(0, Files.DirectReadAttempts);
        Assert.False(engine.ActiveAppender!.IsDirect);
    }

    [Fact]
    public async Task A_file_system_that_refuses_o_direct_is_logged_once_at_open_as_a_warning_however_many_segments()
    {
        // Arrange: several segments, then a file system that refuses O_DIRECT.
        var chunks = LargeChunks(12, 300);
        await using (var first = ChunkEngine.Open(Options, Log))
        {
            await AppendAllAsync(first, chunks);

            // Control: where the file system takes O_DIRECT nothing is said.
            Assert.Empty(Logged(Off));
            Assert.Empty(Logged(Unavailable));
        }

        Assert.True(Directory.GetFiles(Path.Combine(Folder, "segments")).Length >= 3);
        Files.RefuseDirect = true;

        // Act
        await using var engine = ChunkEngine.Open(Options, Log);
        foreach (var (id, bytes) in chunks)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
        }

        // Assert: one warning for the node, naming the segments' folder; no information line; nothing read directly.
        var logged = Assert.Single(Logged(Unavailable));
        Assert.Equal(LogLevel.Warning, logged.Level);
        Assert.StartsWith("Direct reads and writes are unavailable: the file system of ", logged.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(Folder, "segments"), logged.Message, StringComparison.Ordinal);
        Assert.Empty(Logged(Off));
        Assert.Equal(0, Files.DirectReadAttempts);
        Assert.False(engine.ActiveAppender!.IsDirect);
    }

    [Fact]
    public async Task Direct_writes_the_file_system_took_but_refuses_are_logged_once_however_many_segments_fall_back()
    {
        // Arrange: O_DIRECT is taken, but every direct write fails (EINVAL).
        Files.FailDirectWrite = () => true;
        await using var engine = ChunkEngine.Open(Options, Log);

        // Act: enough to fill several segments, each appender trying direct writes and falling back by itself.
        var chunks = LargeChunks(12, 400);
        await AppendAllAsync(engine, chunks);

        // Assert: every chunk stored and read back; one warning for the engine, none at open (O_DIRECT was taken).
        Assert.True(Directory.GetFiles(Path.Combine(Folder, "segments")).Length >= 3);
        foreach (var (id, bytes) in chunks)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
        }

        var logged = Assert.Single(Logged(WritesRefused));
        Assert.Equal(LogLevel.Warning, logged.Level);
        Assert.StartsWith($"The file system of {Path.Combine(Folder, "segments")} took O_DIRECT but refused a direct write", logged.Message, StringComparison.Ordinal);
        Assert.IsType<IOException>(logged.Exception);
        Assert.Empty(Logged(Unavailable));
        Assert.False(engine.ActiveAppender!.IsDirect);
    }
}
