using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Tests.Engine.Faults;

namespace Dropbox.StorageNode.Tests.Engine;

/// <summary>
/// Review probes (stop 55, s55-direct: direct reads on by default): records ending on and just past block boundaries, in
/// closed and active segments, after a restart; pooled buffers of chunks held while other reads run; the fallback that
/// turns direct reads off for a segment racing other readers; the active segment's last block rewritten under readers of
/// records that end one byte into it; what a burst of concurrent large reads allocates. Real files (ext4), a real engine.
/// </summary>
public sealed class DirectReadProbeTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FaultyFiles _files = new(DiskFiles.Instance);

    private EngineOptions Options => TestChunks.SmallEngine(_dir.Path) with { Files = _files, DirectReads = true };

    public void Dispose() => _dir.Dispose();

    private const int Block = 4096;

    /// <summary>A chunk whose record takes exactly <paramref name="recordLength"/> bytes.</summary>
    private static (ChunkId Id, byte[] Bytes) Record(int recordLength, int seed) =>
        TestChunks.Random(recordLength - SegmentRecord.HeaderSize, seed);

    [Fact]
    public async Task Probe_records_ending_on_and_just_past_block_boundaries_read_directly_with_their_bytes_in_closed_and_active_segments_and_after_restart()
    {
        // 1 MiB segments. Record ends (offsets in their segment), each record >= 128 KiB:
        // segment 1: 163840 (on a boundary), 327681 (1 past), 491520 (on), 655359 (1 before), 860160 (on: the closed segment ends on a boundary);
        // segment 2: one record ending at 614401 (1 past: the closed segment ends 1 byte into a block);
        // segment 3 (active): 450560 (on), 655361 (1 past), 819200 (on).
        int[][] ends = [[163840, 327681, 491520, 655359, 860160], [614401], [450560, 655361, 819200]];
        var chunks = new List<(ChunkId Id, byte[] Bytes, int Segment, long Offset)>();
        var seed = 1;
        await using (var engine = ChunkEngine.Open(Options))
        {
            for (var s = 0; s < ends.Length; s++)
            {
                var pos = 0;
                foreach (var end in ends[s])
                {
                    var (id, bytes) = Record(end - pos, seed++);
                    await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
                    Assert.True(engine.TryGetLocation(id, out var location));
                    Assert.Equal(pos, location.Offset);
                    chunks.Add((id, bytes, location.Segment, location.Offset));
                    pos = end;
                }
            }

            Assert.Equal(3, chunks.Select(c => c.Segment).Distinct().Count());
            for (var round = 0; round < 2; round++)
            {
                foreach (var (id, bytes, _, _) in chunks)
                {
                    Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
                }
            }

            // Every read tried directly (no segment fell back to buffered) and every direct read checked out.
            Assert.Equal(2 * chunks.Count, _files.DirectReadAttempts);
        }

        var before = _files.DirectReadAttempts;
        await using (var reopened = ChunkEngine.Open(Options))
        {
            foreach (var (id, bytes, _, _) in chunks)
            {
                Assert.Equal(bytes, await TestChunks.ReadAllAsync(reopened, id));
            }

            Assert.Equal(chunks.Count, _files.DirectReadAttempts - before);
        }
    }

    [Fact]
    public async Task Probe_chunks_held_while_many_other_direct_reads_run_keep_their_bytes_and_never_share_a_buffer()
    {
        await using var engine = ChunkEngine.Open(Options with { SegmentMaxBytes = 64L << 20 });
        var chunks = Enumerable.Range(0, 16)
            .Select(i => TestChunks.Random(i % 4 == 0 ? (4 << 20) - (i * 33) : Segment.DirectReadMinBytes + (i * 50_001), 3_000 + i))
            .ToList();
        foreach (var (id, bytes) in chunks)
        {
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }

        var inUse = new ConcurrentDictionary<byte[], int>(ReferenceEqualityComparer.Instance);
        var errors = new ConcurrentQueue<string>();
        var readers = Enumerable.Range(0, 8).Select(r => Task.Run(async () =>
        {
            var random = new Random(r);
            for (var i = 0; i < 60; i++)
            {
                var (id, bytes) = chunks[random.Next(chunks.Count)];
                var chunk = await engine.ReadAsync(id, CancellationToken.None);
                if (chunk is null)
                {
                    errors.Enqueue($"{id} not found");
                    continue;
                }

                Assert.True(MemoryMarshal.TryGetArray(chunk.Data, out var segment));
                if (!inUse.TryAdd(segment.Array!, r))
                {
                    errors.Enqueue($"reader {r} got a buffer reader {inUse.GetValueOrDefault(segment.Array!)} still holds");
                }

                // Hold it across other readers' reads, then check it is still this chunk's bytes.
                await Task.Yield();
                var (otherId, otherBytes) = chunks[random.Next(chunks.Count)];
                using (var other = await engine.ReadAsync(otherId, CancellationToken.None))
                {
                    if (other is null || !other.Data.Span.SequenceEqual(otherBytes))
                    {
                        errors.Enqueue($"wrong bytes for {otherId}");
                    }
                }

                if (!chunk.Data.Span.SequenceEqual(bytes))
                {
                    errors.Enqueue($"held chunk {id} changed under reader {r}");
                }

                inUse.TryRemove(segment.Array!, out _);
                chunk.Dispose();
                chunk.Dispose(); // twice: returned to the pool once
            }
        })).ToList();
        await Task.WhenAll(readers);

        Assert.Empty(errors.Take(3));
        Assert.True(_files.DirectReads >= 8 * 60, $"only {_files.DirectReads} direct reads");
    }

    [Fact]
    public async Task Probe_the_fallback_that_turns_direct_reads_off_races_other_readers_of_the_segment_without_a_wrong_byte_or_an_error()
    {
        await using var engine = ChunkEngine.Open(Options with { SegmentMaxBytes = 64L << 20 });
        var chunks = Enumerable.Range(0, 10).Select(i => TestChunks.Random(Segment.DirectReadMinBytes + (i * 70_003), 4_000 + i)).ToList();
        foreach (var (id, bytes) in chunks)
        {
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }

        // The first few direct reads return a flipped byte (a file system whose direct reads lie): they fall back.
        var lies = 0;
        _files.AfterDirectRead = span =>
        {
            if (Interlocked.Increment(ref lies) <= 6)
            {
                span[span.Length / 3] ^= 0x20;
            }
        };

        var errors = new ConcurrentQueue<string>();
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var readers = Enumerable.Range(0, 8).Select(r => Task.Run(async () =>
        {
            await start.Task;
            for (var i = 0; i < 40; i++)
            {
                var (id, bytes) = chunks[(r + i) % chunks.Count];
                try
                {
                    using var chunk = await engine.ReadAsync(id, CancellationToken.None);
                    if (chunk is null || !chunk.Data.Span.SequenceEqual(bytes))
                    {
                        errors.Enqueue($"wrong bytes for {id}");
                    }
                }
                catch (Exception e)
                {
                    errors.Enqueue(e.ToString());
                }
            }
        })).ToList();
        start.SetResult();
        await Task.WhenAll(readers);

        Assert.Empty(errors.Take(3));

        // Direct reads stopped for the segment: later reads attempt none.
        var attempts = _files.DirectReadAttempts;
        foreach (var (id, bytes) in chunks)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
        }

        Assert.Equal(attempts, _files.DirectReadAttempts);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    [InlineData(-1)]
    public async Task Probe_readers_of_records_ending_around_the_active_segment_s_last_block_race_its_rewrite(int pastBoundary)
    {
        // Each record is whole blocks plus pastBoundary bytes: with 1, every record's last byte sits alone at the start of the
        // block the next flush rewrites (padded with zeros, then with the next record after it).
        await using var engine = ChunkEngine.Open(Options with { SegmentMaxBytes = 1L << 30 });
        var latest = new List<(ChunkId Id, byte[] Bytes)>();
        var done = false;
        var errors = new ConcurrentQueue<string>();
        var reads = 0;
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            while (!Volatile.Read(ref done))
            {
                (ChunkId Id, byte[] Bytes)[] newest;
                lock (latest)
                {
                    newest = latest.TakeLast(2).ToArray();
                }

                foreach (var (id, bytes) in newest)
                {
                    try
                    {
                        using var chunk = await engine.ReadAsync(id, CancellationToken.None);
                        if (chunk is null || !chunk.Data.Span.SequenceEqual(bytes))
                        {
                            errors.Enqueue($"wrong bytes for {id}");
                        }

                        Interlocked.Increment(ref reads);
                    }
                    catch (Exception e)
                    {
                        errors.Enqueue(e.ToString());
                    }
                }
            }
        })).ToList();

        for (var i = 0; i < 250; i++)
        {
            var chunk = Record((Block * (33 + (i % 5))) + pastBoundary, 9_000 + i);
            await engine.AppendAsync(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, chunk.Bytes, CancellationToken.None);
            lock (latest)
            {
                latest.Add(chunk);
            }
        }

        Volatile.Write(ref done, true);
        await Task.WhenAll(readers);
        Assert.Empty(errors.Take(3));
        Assert.True(_files.DirectReads > 100, $"only {_files.DirectReads} direct reads of {reads}");
        // Every read tried directly: none fell back (which would turn direct reads off for the segment).
        Assert.True(_files.DirectReadAttempts >= reads, $"{_files.DirectReadAttempts} direct attempts for {reads} reads");
        Assert.Equal(_files.DirectReads, _files.DirectReadAttempts);
    }

    [Fact]
    public async Task Probe_a_burst_of_eight_held_4_MiB_reads_allocates_no_more_than_buffered_reads_do()
    {
        // Cost, not bytes: the direct-read pool keeps 4 buffers a size; each read beyond 4 held at once allocates a fresh
        // pinned 8 MiB array, dropped on return. Buffered reads rent from ArrayPool<byte>.Shared. Same burst both ways.
        var chunks = Enumerable.Range(0, 8).Select(i => TestChunks.Random((4 << 20) - i, 7_000 + i)).ToList();
        await using var engine = ChunkEngine.Open(Options with { SegmentMaxBytes = 64L << 20 });
        foreach (var (id, bytes) in chunks)
        {
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }

        async Task<long> Burst()
        {
            // ReadAsync completes synchronously, so the awaits never leave this thread: every rent is counted here.
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var round = 0; round < 10; round++)
            {
                var held = new List<StoredChunk>();
                foreach (var (id, _) in chunks)
                {
                    held.Add((await engine.ReadAsync(id, CancellationToken.None))!);
                }

                held.ForEach(c => c.Dispose());
            }

            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        await Burst(); // warm the pool
        var direct = await Burst();
        Assert.True(_files.DirectReads > 0);

        using var bufferedDir = new TempFolder();
        await using var buffered = ChunkEngine.Open(TestChunks.SmallEngine(bufferedDir.Path) with { DirectReads = false, SegmentMaxBytes = 64L << 20 });
        foreach (var (id, bytes) in chunks)
        {
            await buffered.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }

        async Task<long> BufferedBurst()
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var round = 0; round < 10; round++)
            {
                var held = new List<StoredChunk>();
                foreach (var (id, _) in chunks)
                {
                    held.Add((await buffered.ReadAsync(id, CancellationToken.None))!);
                }

                held.ForEach(c => c.Dispose());
            }

            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        await BufferedBurst();
        var viaCache = await BufferedBurst();
        Assert.True(direct <= viaCache + (16L << 20), $"10 bursts of 8 held 4 MiB reads allocated {direct >> 20} MiB with direct reads, {viaCache >> 20} MiB buffered");
    }
}
