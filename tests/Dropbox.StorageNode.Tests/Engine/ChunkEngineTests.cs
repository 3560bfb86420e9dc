using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Tests.Engine;

public sealed class ChunkEngineTests : IDisposable
{
    private readonly TempFolder _dir = new();

    private EngineOptions Options => TestChunks.SmallEngine(_dir.Path);

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Append_then_read_returns_the_same_bytes()
    {
        await using var engine = ChunkEngine.Open(Options);
        var (id, bytes) = TestChunks.Random(10_000, 1);

        var outcome = await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);

        Assert.Equal(AppendOutcome.Stored, outcome);
        Assert.True(engine.Contains(id));
        Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
    }

    [Fact]
    public async Task Append_of_a_chunk_already_held_is_deduplicated()
    {
        await using var engine = ChunkEngine.Open(Options);
        var (id, bytes) = TestChunks.Random(5_000, 2);
        await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        var before = engine.GetStats();

        var outcome = await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);

        Assert.Equal(AppendOutcome.AlreadyPresent, outcome);
        Assert.Equal(before, engine.GetStats());
    }

    [Fact]
    public async Task Concurrent_appends_of_the_same_chunk_write_it_once()
    {
        await using var engine = ChunkEngine.Open(Options);
        var (id, bytes) = TestChunks.Random(5_000, 3);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None).AsTask()));

        Assert.Single(outcomes, o => o == AppendOutcome.Stored);
        Assert.Equal(1, engine.GetStats().ChunkCount);
        Assert.Equal(SegmentRecord.HeaderSize + bytes.Length, engine.GetStats().LiveBytes);
    }

    [Fact]
    public async Task Reopen_without_checkpoint_recovers_every_chunk_from_the_segments()
    {
        var chunks = Enumerable.Range(0, 50).Select(i => TestChunks.Random(30_000, 100 + i)).ToList();
        var engine = ChunkEngine.Open(Options);
        await Task.WhenAll(chunks.Select(c => engine.AppendAsync(c.Id, ChunkEncoding.Raw, c.Bytes.Length, c.Bytes, CancellationToken.None).AsTask()));
        // Simulate a crash: drop the positions file the clean shutdown would use.
        await engine.DisposeAsync();
        File.Delete(Path.Combine(_dir.Path, "index", "positions"));

        await using var reopened = ChunkEngine.Open(Options);

        Assert.Equal(50, reopened.GetStats().ChunkCount);
        foreach (var (id, bytes) in chunks)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(reopened, id));
        }
    }

    [Fact]
    public async Task Reopen_after_checkpoint_replays_only_the_tail_and_keeps_deletes()
    {
        var a = TestChunks.Random(1000, 10);
        var b = TestChunks.Random(1000, 11);
        var c = TestChunks.Random(1000, 12);
        await using (var engine = ChunkEngine.Open(Options))
        {
            await engine.AppendAsync(a.Id, ChunkEncoding.Raw, 1000, a.Bytes, CancellationToken.None);
            await engine.AppendAsync(b.Id, ChunkEncoding.Raw, 1000, b.Bytes, CancellationToken.None);
            await engine.CheckpointAsync(CancellationToken.None);
            await engine.AppendAsync(c.Id, ChunkEncoding.Raw, 1000, c.Bytes, CancellationToken.None);
            Assert.True(await engine.DeleteAsync(a.Id, CancellationToken.None));
        }

        await using var reopened = ChunkEngine.Open(Options);

        Assert.False(reopened.Contains(a.Id));
        Assert.Equal(b.Bytes, await TestChunks.ReadAllAsync(reopened, b.Id));
        Assert.Equal(c.Bytes, await TestChunks.ReadAllAsync(reopened, c.Id));
        Assert.Equal(2, reopened.GetStats().ChunkCount);
    }

    [Fact]
    public async Task A_torn_record_at_the_tail_is_cut_off_and_never_served()
    {
        var good = TestChunks.Random(4000, 20);
        var torn = TestChunks.Random(4000, 21);
        await using (var engine = ChunkEngine.Open(Options))
        {
            await engine.AppendAsync(good.Id, ChunkEncoding.Raw, 4000, good.Bytes, CancellationToken.None);
            await engine.AppendAsync(torn.Id, ChunkEncoding.Raw, 4000, torn.Bytes, CancellationToken.None);
        }

        File.Delete(Path.Combine(_dir.Path, "index", "positions"));
        var segment = Directory.GetFiles(Path.Combine(_dir.Path, "segments")).Single();
        var goodLength = SegmentRecord.HeaderSize + 4000;
        using (var stream = new FileStream(segment, FileMode.Open))
        {
            stream.SetLength(goodLength + SegmentRecord.HeaderSize + 1000); // the second record lost its end
        }

        await using var reopened = ChunkEngine.Open(Options);

        Assert.True(reopened.Contains(good.Id));
        Assert.False(reopened.Contains(torn.Id));
        Assert.Null(await reopened.ReadAsync(torn.Id, CancellationToken.None));
        Assert.Equal(goodLength, new FileInfo(segment).Length);
        Assert.Equal(good.Bytes, await TestChunks.ReadAllAsync(reopened, good.Id));
    }

    [Fact]
    public async Task A_running_scrub_lets_a_backup_snapshot_take_the_segments_between_chunks_and_then_finishes_its_pass()
    {
        // Arrange: five chunks; the scrub parks on its first chunk until a snapshot asks for the segments, and on the
        // later ones until the snapshot has them (bounded: without yielding, the snapshot would wait for the whole pass).
        var chunks = Enumerable.Range(0, 5).Select(i => TestChunks.Random(3000, 60 + i)).ToList();
        await using var engine = ChunkEngine.Open(Options);
        foreach (var (id, bytes) in chunks)
        {
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }

        using var started = new ManualResetEventSlim();
        using var holdAsked = new ManualResetEventSlim();
        using var holdTaken = new ManualResetEventSlim();
        var verified = 0;
        var scrub = Task.Run(() => engine.ScrubAsync((id, c) =>
        {
            if (Interlocked.Increment(ref verified) == 1)
            {
                started.Set();
                holdAsked.Wait(TimeSpan.FromSeconds(10));
            }
            else
            {
                holdTaken.Wait(TimeSpan.FromSeconds(5));
            }

            return ChunkId.Compute(c.Data.Span) == id;
        }, CancellationToken.None));
        Assert.True(started.Wait(TimeSpan.FromSeconds(10)));

        // Act: a backup asks for the segments while the scrub is mid-pass.
        var hold = engine.HoldSegmentsAsync(CancellationToken.None);
        holdAsked.Set();
        using (var segments = await hold.WaitAsync(TimeSpan.FromSeconds(30)))
        {
            // Assert: the snapshot got them before the scrub ended; the scrub then checks every chunk.
            Assert.False(scrub.IsCompleted, "the snapshot waited for the whole scrub pass");
            Assert.NotEmpty(segments.Segments);
            holdTaken.Set();
        }

        var result = await scrub.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(5, result.Checked);
        Assert.Empty(result.Corrupt);
    }

    [Fact]
    public async Task Scrub_finds_a_flipped_byte_quarantines_the_chunk_and_read_refuses_it()
    {
        var chunks = Enumerable.Range(0, 5).Select(i => TestChunks.Random(3000, 30 + i)).ToList();
        await using var engine = ChunkEngine.Open(Options);
        foreach (var (id, bytes) in chunks)
        {
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }

        Assert.True(engine.TryGetLocation(chunks[2].Id, out var location));
        var segment = Directory.GetFiles(Path.Combine(_dir.Path, "segments")).Single();
        using (var stream = new FileStream(segment, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            stream.Position = location.Offset + SegmentRecord.HeaderSize + 100;
            var b = stream.ReadByte();
            stream.Position--;
            stream.WriteByte((byte)(b ^ 0x01));
        }

        var beforeScrub = await Assert.ThrowsAsync<DropboxException>(async () => await engine.ReadAsync(chunks[2].Id, CancellationToken.None));
        Assert.Equal(ErrorKind.DataLoss, beforeScrub.Kind);

        var result = await engine.ScrubAsync((id, c) => c.Encoding == ChunkEncoding.Raw && ChunkId.Compute(c.Data.Span) == id, CancellationToken.None);

        Assert.Equal(5, result.Checked);
        Assert.Equal(chunks[2].Id, Assert.Single(result.Corrupt));
        Assert.True(engine.IsQuarantined(chunks[2].Id));
        var afterScrub = await Assert.ThrowsAsync<DropboxException>(async () => await engine.ReadAsync(chunks[2].Id, CancellationToken.None));
        Assert.Equal(ErrorKind.DataLoss, afterScrub.Kind);
        Assert.Contains("quarantined", afterScrub.Message, StringComparison.Ordinal);
        Assert.Equal(1, engine.GetStats().Quarantined);
        Assert.Equal(chunks[3].Bytes, await TestChunks.ReadAllAsync(engine, chunks[3].Id));
    }

    [Fact]
    public async Task Delete_removes_a_chunk_and_deleting_again_reports_nothing_deleted()
    {
        await using var engine = ChunkEngine.Open(Options);
        var (id, bytes) = TestChunks.Random(2000, 40);
        await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);

        Assert.True(await engine.DeleteAsync(id, CancellationToken.None));
        Assert.False(await engine.DeleteAsync(id, CancellationToken.None));
        Assert.False(engine.Contains(id));
        Assert.Null(await engine.ReadAsync(id, CancellationToken.None));
        Assert.Equal(0, engine.GetStats().LiveBytes);
    }

    [Fact]
    public async Task Compaction_rewrites_mostly_dead_segments_while_live_chunks_stay_readable()
    {
        await using var engine = ChunkEngine.Open(Options with { SegmentMaxBytes = 200_000 });
        var chunks = Enumerable.Range(0, 40).Select(i => TestChunks.Random(20_000, 200 + i)).ToList();
        foreach (var (id, bytes) in chunks)
        {
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }

        var kept = chunks.Where((_, i) => i % 4 == 0).ToList();
        foreach (var (id, _) in chunks.Where((_, i) => i % 4 != 0))
        {
            await engine.DeleteAsync(id, CancellationToken.None);
        }

        var segmentsBefore = engine.GetStats().SegmentCount;
        using var stop = new CancellationTokenSource();
        var readerErrors = 0;
        long reads = 0;
        var reader = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested && reads < 1_000_000)
            {
                foreach (var (id, bytes) in kept)
                {
                    using var chunk = await engine.ReadAsync(id, CancellationToken.None);
                    if (chunk is null || !chunk.Data.Span.SequenceEqual(bytes))
                    {
                        Interlocked.Increment(ref readerErrors);
                    }

                    Interlocked.Increment(ref reads);
                }
            }
        });

        var compacted = await engine.CompactAsync(CancellationToken.None);
        await stop.CancelAsync();
        await reader;

        Assert.True(compacted > 0);
        Assert.Equal(0, readerErrors);
        Assert.True(engine.GetStats().SegmentCount < segmentsBefore);
        Assert.Equal(kept.Count, engine.GetStats().ChunkCount);
        foreach (var (id, bytes) in kept)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
        }

        await engine.DisposeAsync();
        await using var reopened = ChunkEngine.Open(Options with { SegmentMaxBytes = 200_000 });
        Assert.Equal(kept.Count, reopened.GetStats().ChunkCount);
        foreach (var (id, bytes) in kept)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(reopened, id));
        }
    }

    [Fact]
    public async Task Checkpoints_taken_while_writes_run_complete_and_a_reopen_sees_every_acknowledged_chunk()
    {
        var chunks = Enumerable.Range(0, 200).Select(i => TestChunks.Random(2_000, 1000 + i)).ToList();
        await using (var engine = ChunkEngine.Open(Options))
        {
            var writes = Task.Run(async () =>
            {
                foreach (var batch in chunks.Chunk(10))
                {
                    await Task.WhenAll(batch.Select(c => engine.AppendAsync(c.Id, ChunkEncoding.Raw, c.Bytes.Length, c.Bytes, CancellationToken.None).AsTask()));
                }
            });
            for (var i = 0; i < 5; i++)
            {
                await engine.CheckpointAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
            }

            await writes.WaitAsync(TimeSpan.FromSeconds(60));
        }

        await using var reopened = ChunkEngine.Open(Options);
        Assert.Equal(chunks.Count, reopened.GetStats().ChunkCount);
        foreach (var (id, bytes) in chunks)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(reopened, id));
        }
    }

    [Fact]
    public async Task The_periodic_checkpoint_is_skipped_while_nothing_is_written_and_taken_again_after_a_write()
    {
        // Arrange: checkpoints every 20 ms; one chunk written, so the first tick names a checkpoint.
        var options = Options with { CheckpointInterval = TimeSpan.FromMilliseconds(20) };
        var positions = EngineLayout.Of(options).Positions;
        await using var engine = ChunkEngine.Open(options);
        var (first, firstBytes) = TestChunks.Random(3_000, 3001);
        await engine.AppendAsync(first, ChunkEncoding.Raw, firstBytes.Length, firstBytes, CancellationToken.None);
        await WaitUntilAsync(() => engine.CheckpointsSkipped >= 3, "three idle ticks skipped");
        var named = File.ReadAllBytes(positions);

        // Act: more idle ticks, then a write.
        await WaitUntilAsync(() => engine.CheckpointsSkipped >= 6, "six idle ticks skipped");
        var unchanged = File.ReadAllBytes(positions);
        var (second, secondBytes) = TestChunks.Random(3_000, 3002);
        await engine.AppendAsync(second, ChunkEncoding.Raw, secondBytes.Length, secondBytes, CancellationToken.None);

        // Assert: idle ticks named no new checkpoint; the write's next tick did.
        Assert.Equal(named, unchanged);
        await WaitUntilAsync(() => !File.ReadAllBytes(positions).AsSpan().SequenceEqual(named), "a checkpoint after the write");
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), $"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task A_corrupt_checkpoint_falls_back_to_rebuilding_the_index_from_the_segments()
    {
        var chunks = Enumerable.Range(0, 20).Select(i => TestChunks.Random(3_000, 2000 + i)).ToList();
        await using (var engine = ChunkEngine.Open(Options))
        {
            foreach (var (id, bytes) in chunks)
            {
                await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
            }
        }

        // Point the positions file at a checkpoint that does not exist.
        var positions = Path.Combine(_dir.Path, "index", "positions");
        var named = PositionsFile.Read(DiskFiles.Instance, positions)!.Value;
        PositionsFile.Write(DiskFiles.Instance, positions, named with { Token = Guid.NewGuid() });

        await using var reopened = ChunkEngine.Open(Options);

        Assert.Equal(chunks.Count, reopened.GetStats().ChunkCount);
        Assert.Equal(chunks[7].Bytes, await TestChunks.ReadAllAsync(reopened, chunks[7].Id));
    }
}
