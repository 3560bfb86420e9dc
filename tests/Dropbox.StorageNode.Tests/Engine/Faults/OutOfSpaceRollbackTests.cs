using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Engine.Faults;

/// <summary>
/// A write batch that finds no space is undone completely: none of its chunks is stored, now or after a restart,
/// and the state of writes still in flight before it is kept. Real files and real FASTER; the ENOSPC is injected.
/// </summary>
public sealed class OutOfSpaceRollbackTests : IDisposable
{
    private const int Enospc = 28;
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private EngineOptions Options(IEngineFiles files) => new()
    {
        Directory = _temp.Sub("engine"),
        Files = files,
        IndexDirectory = _temp.Sub("index"),
        CheckpointInterval = TimeSpan.Zero,
        IndexSizeBytes = 1L << 12,
        IndexMemoryBytes = 1L << 15,
        IndexPageSizeBytes = 1L << 12,

        // Six 4000-byte chunks (4064 bytes with their headers) fit, the seventh starts segment 2.
        SegmentMaxBytes = 24 * 1024,
    };

    private static (ChunkId Id, byte[] Bytes) Chunk(int n)
    {
        var bytes = new byte[4000];
        new Random(n).NextBytes(bytes);
        return (ChunkId.Compute(bytes), bytes);
    }

    private static IOException NoSpace() => new("No space left on device (injected)") { HResult = Enospc };

    private static Task<AppendOutcome> PutAsync(ChunkEngine engine, (ChunkId Id, byte[] Bytes) chunk) =>
        engine.AppendAsync(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, chunk.Bytes, CancellationToken.None).AsTask();

    [Fact]
    public async Task A_batch_that_rolled_to_a_new_segment_and_found_no_space_stores_none_of_its_chunks_even_after_a_restart()
    {
        var faulty = new FaultyFiles(DiskFiles.Instance);
        var engine = ChunkEngine.Open(Options(faulty));
        var held = Enumerable.Range(0, 4).Select(Chunk).ToList();
        var failed = Enumerable.Range(10, 4).Select(Chunk).ToList();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(AppendOutcome.Stored, await PutAsync(engine, held[i]));
            }

            // Hold the writer inside the fourth chunk's write so the next four queue up and go as one batch: two
            // fill segment 1, two start segment 2, whose write finds the disk full.
            using var gate = new ManualResetEventSlim();
            using var entered = new ManualResetEventSlim();
            var holding = 1;
            faulty.BeforeWrite = path =>
            {
                if (path.EndsWith("00000001.fseg", StringComparison.Ordinal) && Interlocked.Exchange(ref holding, 0) == 1)
                {
                    entered.Set();
                    Assert.True(gate.Wait(TimeSpan.FromSeconds(30)));
                }
                else if (path.EndsWith("00000002.fseg", StringComparison.Ordinal))
                {
                    throw NoSpace();
                }
            };
            var fourth = PutAsync(engine, held[3]);
            Assert.True(entered.Wait(TimeSpan.FromSeconds(30)), "the fourth put's write never started");
            var puts = failed.Select(c => PutAsync(engine, c)).ToList();
            gate.Set();

            Assert.Equal(AppendOutcome.Stored, await fourth);
            foreach (var put in puts)
            {
                var error = await Assert.ThrowsAsync<IOException>(() => put);
                Assert.True(SpaceGuard.IsOutOfSpace(error), error.ToString());
            }

            Assert.All(failed, c => Assert.False(engine.Contains(c.Id)));

            // Space comes back: the next put is stored, after the held chunks.
            faulty.BeforeWrite = null;
            var later = Chunk(20);
            Assert.Equal(AppendOutcome.Stored, await PutAsync(engine, later));
            held.Add(later);
        }
        finally
        {
            // kill -9: no checkpoint, the page cache keeps whatever was written.
            await engine.AbandonAsync();
        }

        await using var restarted = ChunkEngine.Open(Options(DiskFiles.Instance));
        foreach (var (id, bytes) in held)
        {
            using var read = await restarted.ReadAsync(id, CancellationToken.None);
            Assert.NotNull(read);
            Assert.Equal(bytes, read.Data.ToArray());
        }

        var replayed = failed.Where(c => restarted.Contains(c.Id)).Select(c => c.Id.ToShortString()).ToList();
        Assert.True(replayed.Count == 0, $"chunks whose put failed for want of space are stored after a restart: {string.Join(", ", replayed)}");
        Assert.Equal(held.Count, restarted.GetStats().ChunkCount);
    }

    [Fact]
    public async Task A_failed_batch_gives_back_the_pending_state_of_an_earlier_write_still_in_flight()
    {
        var faulty = new FaultyFiles(new MemoryFiles("/r5"));
        var options = Options(faulty) with { Directory = "/r5" };
        await using var engine = ChunkEngine.Open(options);
        var chunk = Chunk(1);

        // The first put is written and waits in its fsync.
        // (Only that fsync: the failed batch's rollback fsyncs its cut beside it.)
        using var fsync = new ManualResetEventSlim();
        using var inFsync = new ManualResetEventSlim();
        var held = 0;
        faulty.BeforeFlush = () =>
        {
            if (Interlocked.Exchange(ref held, 1) == 0)
            {
                inFsync.Set();
                Assert.True(fsync.Wait(TimeSpan.FromSeconds(30)));
            }

            return Task.CompletedTask;
        };
        var first = PutAsync(engine, chunk);
        Assert.True(inFsync.Wait(TimeSpan.FromSeconds(30)), "the first put never reached its fsync");

        // A delete of it finds no space and fails: the first put's pending state must come back.
        faulty.BeforeWrite = _ => throw NoSpace();
        await Assert.ThrowsAsync<IOException>(() => engine.DeleteAsync(chunk.Id, CancellationToken.None).AsTask());
        faulty.BeforeWrite = null;

        // A second put of the same chunk relies on the first copy rather than writing another one.
        // The writer takes ops in order: once a later put is written, the second one has been decided.
        using var markerWritten = new ManualResetEventSlim();
        faulty.BeforeWrite = _ => markerWritten.Set();
        var second = PutAsync(engine, chunk);
        var marker = PutAsync(engine, Chunk(2));
        Assert.True(markerWritten.Wait(TimeSpan.FromSeconds(30)), "the marker put was never written");
        fsync.Set();
        Assert.Equal(AppendOutcome.Stored, await marker);

        Assert.Equal(AppendOutcome.Stored, await first);
        Assert.Equal(AppendOutcome.AlreadyPresent, await second);
        var stats = engine.GetStats();
        Assert.True(stats.ChunkCount == 2, $"{stats.ChunkCount} chunks counted for two (a second copy of the first was written while it was in flight)");
    }

    [Fact]
    public async Task A_failed_batch_in_the_same_segment_is_not_replayed_after_a_power_cut_even_if_another_fsync_made_its_records_durable()
    {
        var memory = new MemoryFiles("/m2");
        var faulty = new FaultyFiles(memory);
        var options = Options(faulty) with { Directory = "/m2", SegmentMaxBytes = 64L << 20 };
        var engine = ChunkEngine.Open(options);
        var held = Chunk(1);
        var small = Chunk(2);

        // Larger than the appender's 4 MiB staging buffer: its batch writes a block (the small chunk's whole record
        // and the start of this one) before the write that finds the disk full.
        var large = new byte[5 << 20];
        new Random(3).NextBytes(large);
        var big = (Id: ChunkId.Compute(large), Bytes: large);
        try
        {
            // Hold the writer in the first put's write so the next two queue up and go as one batch.
            using var gate = new ManualResetEventSlim();
            using var holdingWriter = new ManualResetEventSlim();
            var phase = 0;
            faulty.BeforeWrite = path =>
            {
                switch (Interlocked.Increment(ref phase))
                {
                    case 1:
                        holdingWriter.Set();
                        Assert.True(gate.Wait(TimeSpan.FromSeconds(30)));
                        break;
                    case 3:
                        // The failed batch's first block is on disk; an earlier batch's fsync of this file (as the
                        // barrier would run it) makes it durable; then the next write finds no space.
                        using (var handle = memory.Open(path, FileMode.Open))
                        {
                            handle.Flush();
                        }

                        throw NoSpace();
                }
            };
            var first = PutAsync(engine, held);
            Assert.True(holdingWriter.Wait(TimeSpan.FromSeconds(30)));
            var failing = new[] { PutAsync(engine, small), PutAsync(engine, big) };
            gate.Set();

            Assert.Equal(AppendOutcome.Stored, await first);
            foreach (var put in failing)
            {
                await Assert.ThrowsAsync<IOException>(() => put);
            }

            Assert.Equal(3, Volatile.Read(ref phase));
            Assert.False(engine.Contains(small.Id));
        }
        finally
        {
            faulty.BeforeWrite = null;
            memory.CrashNow(new Random(4));
            await engine.AbandonAsync();
        }

        await using var restarted = ChunkEngine.Open(options with { Files = memory.Survivors! });
        Assert.True(restarted.Contains(held.Id));
        Assert.False(restarted.Contains(small.Id), "a chunk whose put failed for want of space is stored after a power cut");
        Assert.False(restarted.Contains(big.Id));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_batch_of_chunks_staged_in_place_that_wrote_mid_batch_and_then_found_no_space_is_undone_even_after_a_power_cut(bool putAfter)
    {
        var memory = new MemoryFiles("/m7");
        var faulty = new FaultyFiles(memory);
        var options = Options(faulty) with { Directory = "/m7", SegmentMaxBytes = 64L << 20 };
        var engine = ChunkEngine.Open(options);
        var held = Chunk(1);
        var later = Chunk(9);

        // Chunks of at most 4 MiB are staged whole (SegmentAppender.TryReserve): the second 3 MiB one does not fit
        // behind the small chunk and the first 3 MiB one, so those are written, padded, mid-batch; the write at the
        // batch's end then finds the disk full.
        var failed = new List<(ChunkId Id, byte[] Bytes)> { Chunk(2) };
        foreach (var seed in new[] { 3, 4 })
        {
            var bytes = new byte[3 << 20];
            new Random(seed).NextBytes(bytes);
            failed.Add((ChunkId.Compute(bytes), bytes));
        }

        try
        {
            // Hold the writer in the first put's write so the next three queue up and go as one batch.
            using var gate = new ManualResetEventSlim();
            using var holdingWriter = new ManualResetEventSlim();
            var segmentWrites = 0;
            long reserveWritesBefore = 0;
            Task<AppendOutcome>? first = null;
            faulty.BeforeWrite = path =>
            {
                if (!path.EndsWith(Segment.FramedExtension, StringComparison.Ordinal))
                {
                    return;
                }

                switch (Interlocked.Increment(ref segmentWrites))
                {
                    case 1:
                        holdingWriter.Set();
                        Assert.True(gate.Wait(TimeSpan.FromSeconds(30)));
                        break;
                    case 3:
                        // The mid-batch write is on disk; an earlier batch's fsync of this file (as the barrier would
                        // run it) makes it durable; then the batch's last write finds no space. The first put's own
                        // fsync is over by then, so only the rollback's fsync can make its cut durable.
                        Assert.True(first!.Wait(TimeSpan.FromSeconds(30)), "the first put's fsync never ended");
                        using (var handle = memory.Open(path, FileMode.Open))
                        {
                            handle.Flush();
                        }

                        throw NoSpace();
                }
            };
            first = PutAsync(engine, held);
            Assert.True(holdingWriter.Wait(TimeSpan.FromSeconds(30)));
            reserveWritesBefore = engine.ActiveAppender!.ReserveWrites;
            var failing = failed.Select(c => PutAsync(engine, c)).ToList();
            gate.Set();

            Assert.Equal(AppendOutcome.Stored, await first);
            foreach (var put in failing)
            {
                var error = await Assert.ThrowsAsync<IOException>(() => put);
                Assert.True(SpaceGuard.IsOutOfSpace(error), error.ToString());
            }

            Assert.Equal(3, Volatile.Read(ref segmentWrites));
            Assert.True(engine.ActiveAppender!.ReserveWrites == reserveWritesBefore + 1, "the failed batch's mid-batch write was not the one TryReserve makes");
            Assert.All(failed, c => Assert.False(engine.Contains(c.Id)));

            // The power is cut at once (only the rollback's fsynced cut removes the durable mid-batch write), or
            // space comes back first: the next batch starts where the failed one did, after the held chunk's bytes.
            faulty.BeforeWrite = null;
            if (putAfter)
            {
                Assert.Equal(AppendOutcome.Stored, await PutAsync(engine, later));
            }
        }
        finally
        {
            faulty.BeforeWrite = null;
            memory.CrashNow(new Random(4));
            await engine.AbandonAsync();
        }

        await using var restarted = ChunkEngine.Open(options with { Files = memory.Survivors! });
        var stored = putAfter ? new[] { held, later } : [held];
        foreach (var (id, bytes) in stored)
        {
            using var read = await restarted.ReadAsync(id, CancellationToken.None);
            Assert.NotNull(read);
            Assert.Equal(bytes, read.Data.ToArray());
        }

        var replayed = failed.Where(c => restarted.Contains(c.Id)).Select(c => c.Id.ToShortString()).ToList();
        Assert.True(replayed.Count == 0, $"chunks whose put failed for want of space are stored after a power cut: {string.Join(", ", replayed)}");
        Assert.Equal(stored.Length, restarted.GetStats().ChunkCount);
    }

    [Fact]
    public async Task A_rolled_batch_whose_new_segment_cannot_be_deleted_stops_writes_instead_of_reporting_the_undo_done()
    {
        var faulty = new FaultyFiles(new MemoryFiles("/r3"));
        await using var engine = ChunkEngine.Open(Options(faulty) with { Directory = "/r3" });
        for (var i = 0; i < 6; i++)
        {
            Assert.Equal(AppendOutcome.Stored, await PutAsync(engine, Chunk(i)));
        }

        // The seventh starts segment 2, whose write finds no space; deleting segment 2 again fails too.
        faulty.BeforeWrite = path =>
        {
            if (path.EndsWith("00000002.fseg", StringComparison.Ordinal))
            {
                throw NoSpace();
            }
        };
        faulty.FailDelete = path => path.EndsWith("00000002.fseg", StringComparison.Ordinal);
        await Assert.ThrowsAsync<IOException>(() => PutAsync(engine, Chunk(6)));
        faulty.BeforeWrite = null;
        faulty.FailDelete = null;

        // The segment with the failed batch's records is still there: the engine must not go on as if undone.
        var error = await Assert.ThrowsAsync<IOException>(() => PutAsync(engine, Chunk(7)));
        Assert.Contains("stopped taking writes", error.Message, StringComparison.Ordinal);
        Assert.NotNull(engine.WriteFault);
    }

    [Fact]
    public async Task A_roll_whose_full_segment_flush_fails_and_whose_new_segment_cannot_be_deleted_stops_writes()
    {
        var faulty = new FaultyFiles(new MemoryFiles("/r6"));
        await using var engine = ChunkEngine.Open(Options(faulty) with { Directory = "/r6" });
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(AppendOutcome.Stored, await PutAsync(engine, Chunk(i)));
        }

        // Hold the writer inside the fifth chunk's write so the next two queue up and go as one batch: the sixth is
        // staged in segment 1 and the seventh rolls to segment 2, whose creation succeeds; then the full segment's
        // flush of the sixth fails, and deleting the new, empty segment 2 fails too.
        using var gate = new ManualResetEventSlim();
        using var entered = new ManualResetEventSlim();
        var segment1Writes = 0;
        faulty.BeforeWrite = path =>
        {
            if (!path.EndsWith("00000001.fseg", StringComparison.Ordinal))
            {
                return;
            }

            if (Interlocked.Increment(ref segment1Writes) == 1)
            {
                entered.Set();
                Assert.True(gate.Wait(TimeSpan.FromSeconds(30)));
            }
            else
            {
                throw new IOException("injected EIO on the full segment's flush");
            }
        };
        faulty.FailDelete = path => path.EndsWith("00000002.fseg", StringComparison.Ordinal);
        var fifth = PutAsync(engine, Chunk(4));
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)), "the fifth put's write never started");
        var rolling = new[] { PutAsync(engine, Chunk(5)), PutAsync(engine, Chunk(6)) };
        gate.Set();

        // The fifth's fsync races the failed batch: once writes have stopped it is refused too, so either outcome is fine.
        await Record.ExceptionAsync(() => fifth);
        foreach (var put in rolling)
        {
            var failed = await Assert.ThrowsAsync<IOException>(() => put);
            Assert.Contains("injected EIO on the full segment's flush", failed.ToString(), StringComparison.Ordinal);
        }

        Assert.Equal(2, Volatile.Read(ref segment1Writes));
        faulty.BeforeWrite = null;
        faulty.FailDelete = null;

        // The empty segment 2 is left behind (every later roll would fail to create it): the engine stops writes,
        // even for a chunk that would still fit in segment 1.
        Assert.NotNull(engine.WriteFault);
        Assert.Contains("injected EIO on delete", engine.WriteFault.ToString(), StringComparison.Ordinal);
        var error = await Assert.ThrowsAsync<IOException>(() => PutAsync(engine, Chunk(7)));
        Assert.Contains("stopped taking writes", error.Message, StringComparison.Ordinal);
        Assert.False(engine.Contains(Chunk(7).Id));
    }
}
