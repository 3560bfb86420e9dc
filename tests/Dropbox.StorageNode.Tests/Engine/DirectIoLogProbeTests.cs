using System.Collections.Concurrent;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Tests.Engine.Faults;
using Microsoft.Extensions.Logging;

namespace Dropbox.StorageNode.Tests.Engine;

/// <summary>
/// Review probes (stop 56, s56-dio: the fallbacks from direct I/O are logged, events 2016-2019). Whether the log calls
/// the change put on the read and write paths change what those paths return: a read the buffered fallback serves, an
/// append whose direct write was refused, when the log provider throws (the Logger of Microsoft.Extensions.Logging
/// rethrows a provider's exception as an AggregateException to the caller); whether a failed first write that is not a
/// refusal of O_DIRECT (disk full) is logged as one; the once-per-segment claim under concurrent readers of several
/// segments; a record both reads find corrupt (DataLoss) leaves direct reads on and logs no 2018. Real files, a real engine.
/// </summary>
public sealed class DirectIoLogProbeTests : DirectIoLogFixture
{
    /// <summary>A logger whose provider throws on every entry of <paramref name="eventId"/> (a broken sink).</summary>
    private sealed class ThrowingLogger(int eventId) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId id, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (id.Id == eventId)
            {
                throw new InvalidOperationException($"log sink broken (event {id.Id})");
            }
        }
    }

    [Fact]
    public async Task Probe_a_read_the_buffered_fallback_serves_is_served_even_if_the_log_of_its_direct_reads_turning_off_throws()
    {
        // Arrange: a large record, then its direct read fails (EINVAL), and the log sink throws on event 2018.
        var chunk = TestChunks.Random(Segment.DirectReadMinBytes, 7);
        await using var engine = ChunkEngine.Open(Options, new ThrowingLogger(SegmentOff));
        await engine.AppendAsync(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, chunk.Bytes, CancellationToken.None);
        Files.FailDirectRead = () => true;

        // Act: before s56-dio this read turned direct reads off and returned the buffered bytes.
        byte[]? got = null;
        Exception? escaped = null;
        try
        {
            got = await TestChunks.ReadAllAsync(engine, chunk.Id);
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            escaped = e;
        }

        // Assert: the bytes were served (the direct read was tried), no exception escaped the read.
        Assert.True(Files.DirectReadAttempts >= 1, "no direct read was tried: the probe proves nothing");
        Assert.True(escaped is null, $"the read threw where the buffered fallback had the bytes: {escaped}");
        Assert.Equal(chunk.Bytes, got);
    }

    [Fact]
    public async Task Probe_a_read_whose_direct_read_lied_is_served_even_if_the_log_of_its_direct_reads_turning_off_throws()
    {
        var chunk = TestChunks.Random(Segment.DirectReadMinBytes, 8);
        await using var engine = ChunkEngine.Open(Options, new ThrowingLogger(SegmentOff));
        await engine.AppendAsync(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, chunk.Bytes, CancellationToken.None);
        Files.AfterDirectRead = bytes => bytes[bytes.Length / 2] ^= 0x10;

        Exception? escaped = null;
        byte[]? got = null;
        try
        {
            got = await TestChunks.ReadAllAsync(engine, chunk.Id);
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            escaped = e;
        }

        Assert.True(Files.DirectReads >= 1, "no direct read was answered: the probe proves nothing");
        Assert.True(escaped is null, $"the read threw where the buffered fallback had the bytes: {escaped}");
        Assert.Equal(chunk.Bytes, got);
    }

    [Fact]
    public async Task Probe_an_append_whose_direct_write_was_refused_is_stored_even_if_the_log_of_the_refusal_throws()
    {
        // Arrange: O_DIRECT taken but every direct write refused (EINVAL), and the log sink throws on event 2019.
        Files.FailDirectWrite = () => true;
        await using var engine = ChunkEngine.Open(Options, new ThrowingLogger(WritesRefused));
        var chunk = TestChunks.Random(Segment.DirectReadMinBytes, 9);

        // Act: before s56-dio the appender fell back to a buffered write and the append succeeded.
        Exception? escaped = null;
        try
        {
            await engine.AppendAsync(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, chunk.Bytes, CancellationToken.None);
        }
        catch (Exception e)
        {
            escaped = e;
        }

        // Assert
        Assert.True(escaped is null, $"the append failed where the buffered fallback would have stored it: {escaped}");
        Assert.Equal(chunk.Bytes, await TestChunks.ReadAllAsync(engine, chunk.Id));
    }

    [Fact]
    public async Task Probe_a_first_write_that_fails_buffered_too_disk_full_is_not_logged_as_a_refusal_of_direct_writes()
    {
        // Arrange: the node's first write meets a full disk (ENOSPC): the direct write and the buffered retry both fail.
        await using var engine = ChunkEngine.Open(Options, Log);
        var failures = 0;
        Files.BeforeWrite = path =>
        {
            if (path.EndsWith(Segment.FramedExtension, StringComparison.Ordinal) && Interlocked.Increment(ref failures) <= 2)
            {
                throw new IOException("injected ENOSPC: No space left on device");
            }
        };
        var chunk = TestChunks.Random(Segment.DirectReadMinBytes, 10);

        // Act: the append fails (not acknowledged), which is right.
        await Assert.ThrowsAnyAsync<Exception>(async () =>
            await engine.AppendAsync(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, chunk.Bytes, CancellationToken.None));
        Assert.Equal(2, failures);

        // Assert: the file system never refused O_DIRECT, so no 2019 ("took O_DIRECT but refused a direct write").
        var logged = Logged(WritesRefused);
        Assert.True(logged.Count == 0, $"logged as a refusal of direct writes: {string.Join(" | ", logged.Select(l => $"{l.Message} ({l.Exception?.Message})"))}");
    }

    [Fact]
    public async Task Probe_concurrent_readers_of_three_segments_whose_direct_reads_lie_get_their_bytes_and_one_2018_per_segment()
    {
        // Arrange: 1 MiB segments, large records spread over 3 or more closed segments and the active one.
        await using var engine = ChunkEngine.Open(Options, Log);
        var chunks = Enumerable.Range(0, 14).Select(i => TestChunks.Random(Segment.DirectReadMinBytes + (i * 20_011), 500 + i)).ToList();
        foreach (var (id, bytes) in chunks)
        {
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }

        var segmentsRead = chunks.Select(c => engine.TryGetLocation(c.Id, out var l) ? l.Segment : -1).Distinct().ToList();
        Assert.True(segmentsRead.Count >= 3, $"only {segmentsRead.Count} segments: the probe proves little");
        // The middle of the span read is inside the record (the span is the record and less than a block either side).
        Files.AfterDirectRead = bytes => bytes[bytes.Length / 2] ^= 0x01;

        // Act: 8 readers at once, every chunk 4 times each.
        var errors = new ConcurrentQueue<string>();
        using var go = new ManualResetEventSlim();
        var readers = Enumerable.Range(0, 8).Select(r => Task.Factory.StartNew(
            async () =>
            {
                go.Wait();
                for (var i = 0; i < 4 * chunks.Count; i++)
                {
                    var (id, bytes) = chunks[(r * 5 + i) % chunks.Count];
                    using var chunk = await engine.ReadAsync(id, CancellationToken.None);
                    if (chunk is null || !chunk.Data.Span.SequenceEqual(bytes))
                    {
                        errors.Enqueue($"wrong bytes for {id.ToShortString()}");
                    }
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default).Unwrap()).ToList();
        go.Set();
        await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(60));

        // Assert: every read right; exactly one 2018 per segment read directly, naming it.
        Assert.Empty(errors);
        var logged = Logged(SegmentOff);
        var perSegment = logged.GroupBy(l => l.Message.Split(' ')[4]).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(perSegment.Values.All(n => n == 1), $"2018 per segment: {string.Join(", ", perSegment.Select(p => $"{p.Key}: {p.Value}"))}");
        Assert.True(segmentsRead.Count == perSegment.Count, $"segments read: {string.Join(",", segmentsRead)}; 2018 for: {string.Join(",", perSegment.Keys)}");
    }

    [Fact]
    public async Task Probe_a_record_both_reads_find_corrupt_is_data_loss_and_leaves_direct_reads_on_without_a_2018()
    {
        // Arrange: two large records in one segment; the first is corrupted on disk after it was written.
        var first = TestChunks.Random(Segment.DirectReadMinBytes, 11);
        var second = TestChunks.Random(Segment.DirectReadMinBytes, 12);
        await using var engine = ChunkEngine.Open(Options with { SegmentMaxBytes = 8L << 20 }, Log);
        await engine.AppendAsync(first.Id, ChunkEncoding.Raw, first.Bytes.Length, first.Bytes, CancellationToken.None);
        await engine.AppendAsync(second.Id, ChunkEncoding.Raw, second.Bytes.Length, second.Bytes, CancellationToken.None);
        Assert.True(engine.TryGetLocation(first.Id, out var location));
        var path = Directory.GetFiles(Path.Combine(Folder, "segments"), "*" + Segment.FramedExtension).Single();
        using (var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            file.Position = location.Offset + SegmentRecord.HeaderSize + 1000;
            var b = file.ReadByte();
            file.Position -= 1;
            file.WriteByte((byte)(b ^ 0xFF));
            file.Flush(flushToDisk: true);
        }

        // Act
        var lost = await Assert.ThrowsAsync<DropboxException>(async () => await TestChunks.ReadAllAsync(engine, first.Id));
        var directBefore = Files.DirectReads;
        var got = await TestChunks.ReadAllAsync(engine, second.Id);

        // Assert: DataLoss, no 2018, and the next large record still read directly.
        Assert.Equal(ErrorKind.DataLoss, lost.Kind);
        Assert.Empty(Logged(SegmentOff));
        Assert.Equal(second.Bytes, got);
        Assert.Equal(directBefore + 1, Files.DirectReads);
    }
}
