using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Tests.Engine.Faults;

/// <summary>The engine under injected I/O errors (a failed fsync, directory fsync or rename) and its device writes.</summary>
public sealed class EngineFaultTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly string _index;

    public EngineFaultTests() => _index = _temp.Sub("index");

    public void Dispose() => _temp.Dispose();

    private EngineOptions Options(IEngineFiles files) => new()
    {
        Directory = "/r3",
        Files = files,
        IndexDirectory = _index,
        CheckpointInterval = TimeSpan.Zero,
        IndexSizeBytes = 1L << 12,
        IndexMemoryBytes = 1L << 15,
        IndexPageSizeBytes = 1L << 12,
        SegmentMaxBytes = 24 * 1024,
    };

    private static (ChunkId Id, byte[] Bytes) Chunk(int n)
    {
        var bytes = new byte[4000];
        new Random(n).NextBytes(bytes);
        return (ChunkId.Compute(bytes), bytes);
    }

    /// <summary>
    /// A put of a chunk whose first copy is still unsynced is skipped by the writer (via _unapplied) and answered
    /// AlreadyPresent (= "stored" to clients) once ITS batch's fsync succeeds, even though the first copy's fsync failed.
    /// </summary>
    [Fact]
    public async Task Duplicate_put_is_not_acknowledged_when_the_first_copys_fsync_fails()
    {
        var faulty = new FaultyFiles(new MemoryFiles("/r3"));
        await using var engine = ChunkEngine.Open(Options(faulty));
        var gate = new SemaphoreSlim(0);
        var failNext = 1;
        faulty.BeforeFlush = async () =>
        {
            if (Interlocked.Exchange(ref failNext, 0) == 1)
            {
                await gate.WaitAsync();
                throw new IOException("injected fsync EIO");
            }
        };

        var (id, bytes) = Chunk(1);
        var writesBefore = faulty.Writes;
        var first = engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None).AsTask();
        while (Volatile.Read(ref faulty.Writes) == writesBefore) await Task.Delay(5);
        var writesAfterFirst = Volatile.Read(ref faulty.Writes);
        var second = engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None).AsTask();
        // Let the writer write the second batch (the flusher is blocked in the first fsync).
        for (var i = 0; i < 200 && Volatile.Read(ref faulty.Writes) == writesAfterFirst; i++) await Task.Delay(5);
        await Task.Delay(100);
        gate.Release();

        await Assert.ThrowsAsync<IOException>(() => first);
        string answer;
        try
        {
            answer = (await second).ToString(); // AlreadyPresent is "stored" to clients
        }
        catch (IOException ex)
        {
            answer = "failed: " + ex.Message;
        }

        Assert.True(answer.StartsWith("failed", StringComparison.Ordinal) || engine.Contains(id),
            $"second put answered {answer} (client told 'stored') but the chunk is not in the engine");
    }

    [Fact]
    public async Task A_failed_segment_fsync_stops_the_engine_taking_writes_with_a_clear_error()
    {
        var faulty = new FaultyFiles(new MemoryFiles("/r3"));
        await using var engine = ChunkEngine.Open(Options(faulty));
        var (held, heldBytes) = Chunk(30);
        await engine.AppendAsync(held, ChunkEncoding.Raw, heldBytes.Length, heldBytes, CancellationToken.None);
        var failNext = 1;
        faulty.BeforeFlush = () => Interlocked.Exchange(ref failNext, 0) == 1
            ? Task.FromException(new IOException("injected fsync EIO"))
            : Task.CompletedTask;

        var (lost, lostBytes) = Chunk(31);
        await Assert.ThrowsAsync<IOException>(() => engine.AppendAsync(lost, ChunkEncoding.Raw, lostBytes.Length, lostBytes, CancellationToken.None).AsTask());

        // The next fsync would "succeed" without the lost bytes: appending after them must not be acknowledged.
        var (later, laterBytes) = Chunk(32);
        var error = await Assert.ThrowsAsync<IOException>(() => engine.AppendAsync(later, ChunkEncoding.Raw, laterBytes.Length, laterBytes, CancellationToken.None).AsTask());
        Assert.Contains("stopped taking writes", error.Message, StringComparison.Ordinal);
        Assert.NotNull(engine.WriteFault);
        Assert.False(engine.Contains(later));
        Assert.False(engine.Contains(lost));

        // Reads of what was durable go on.
        Assert.True(engine.Contains(held));
    }

    [Fact]
    public async Task A_put_of_a_chunk_already_held_waits_for_the_next_group_commit_like_a_new_one()
    {
        // A shortcut answer would come sooner, or before a new chunk's put sent earlier, and so reveal that
        // someone stored the content.
        var faulty = new FaultyFiles(new MemoryFiles("/r3"));
        await using var engine = ChunkEngine.Open(Options(faulty));
        var (held, heldBytes) = Chunk(40);
        await engine.AppendAsync(held, ChunkEncoding.Raw, heldBytes.Length, heldBytes, CancellationToken.None);
        var gate = new SemaphoreSlim(0);
        faulty.BeforeFlush = () => gate.WaitAsync();

        var (fresh, freshBytes) = Chunk(41);
        var writesBefore = Volatile.Read(ref faulty.Writes);
        var newPut = engine.AppendAsync(fresh, ChunkEncoding.Raw, freshBytes.Length, freshBytes, CancellationToken.None).AsTask();
        for (var i = 0; i < 400 && Volatile.Read(ref faulty.Writes) == writesBefore; i++)
        {
            await Task.Delay(5);
        }

        var heldPut = engine.AppendAsync(held, ChunkEncoding.Raw, heldBytes.Length, heldBytes, CancellationToken.None).AsTask();
        var first = await Task.WhenAny(heldPut, Task.Delay(300));
        gate.Release(100);

        Assert.NotSame(heldPut, first);
        Assert.Equal(AppendOutcome.Stored, await newPut);
        Assert.Equal(AppendOutcome.AlreadyPresent, await heldPut);
        Assert.Equal(2, engine.GetStats().ChunkCount);
    }

    [Fact]
    public async Task Put_of_a_held_chunk_writes_nothing()
    {
        var faulty = new FaultyFiles(new MemoryFiles("/r3"));
        await using var engine = ChunkEngine.Open(Options(faulty));
        var (id, bytes) = Chunk(7);
        await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        var before = faulty.Writes;
        for (var i = 0; i < 10; i++)
        {
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }

        Assert.True(faulty.Writes == before, $"10 puts of a held chunk made {faulty.Writes - before} device writes (tail-block rewrites) and as many fsyncs");
    }

    /// <summary>A failed directory fsync while rolling to a new segment wedges the writer: every later put fails.</summary>
    [Fact]
    public async Task Failed_directory_fsync_on_segment_roll_does_not_wedge_the_engine()
    {
        var faulty = new FaultyFiles(new MemoryFiles("/r3"));
        await using var engine = ChunkEngine.Open(Options(faulty));
        var fail = 1;
        faulty.FailSync = d => d == "/r3/segments" && Interlocked.Exchange(ref fail, 0) == 1;
        var failures = new List<string>();
        for (var n = 0; n < 12; n++)
        {
            var (id, bytes) = Chunk(100 + n);
            try
            {
                await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
            }
            catch (Exception ex)
            {
                failures.Add($"#{n}: {ex.GetType().Name}: {ex.Message}");
            }
        }

        Assert.True(failures.Count <= 1, "puts after the one injected failure also failed:\n" + string.Join("\n", failures));
    }

    /// <summary>While the positions file cannot be replaced, every checkpoint is kept (no FASTER clean-up any more).</summary>
    [Fact]
    public async Task Checkpoints_do_not_accumulate_while_positions_cannot_be_written()
    {
        var faulty = new FaultyFiles(new MemoryFiles("/r3"));
        await using var engine = ChunkEngine.Open(Options(faulty));
        faulty.FailMove = d => d.EndsWith("/positions", StringComparison.Ordinal);
        for (var n = 0; n < 10; n++)
        {
            var (id, bytes) = Chunk(200 + n);
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
            await Assert.ThrowsAsync<IOException>(() => engine.CheckpointAsync(CancellationToken.None));
        }

        var dirs = Directory.GetDirectories(Path.Combine(_index, "checkpoints"), "*", SearchOption.AllDirectories)
            .Where(d => Guid.TryParse(Path.GetFileName(d), out _)).ToList();
        Assert.True(dirs.Count <= 4, $"{dirs.Count} checkpoint folders kept after 10 failed positions writes:\n" + string.Join("\n", dirs));
    }

    /// <summary>
    /// Checkpoint T1's rename onto the positions file lands but the index folder's fsync fails, so the engine still
    /// counts T0 as named while the file names T1; checkpoint T2's rename then fails. Its clean-up must keep T1 (what
    /// the file names now): purged, the next start finds the named checkpoint gone and rebuilds the index from every
    /// segment. Real files and a real FASTER index.
    /// </summary>
    [Fact]
    public async Task A_failed_checkpoint_keeps_the_one_the_positions_file_names_after_an_earlier_rename_landed_without_its_fsync()
    {
        var faulty = new FaultyFiles(DiskFiles.Instance);
        var options = Options(faulty) with { Directory = _temp.Sub("engine") };
        var positions = EngineLayout.Of(options).Positions;
        var chunks = new List<(ChunkId Id, byte[] Bytes)>();
        Guid named;
        await using (var engine = ChunkEngine.Open(options))
        {
            await PutAsync(engine, chunks, 300, 3);
            await engine.CheckpointAsync(CancellationToken.None); // T0, named durably

            await PutAsync(engine, chunks, 303, 3);
            var syncFailed = 0;
            faulty.FailSync = d => d == Path.GetDirectoryName(positions) && Interlocked.Exchange(ref syncFailed, 1) == 0;
            await Assert.ThrowsAsync<IOException>(() => engine.CheckpointAsync(CancellationToken.None)); // T1: renamed, not fsynced
            named = PositionsFile.Read(faulty, positions)!.Value.Token;

            await PutAsync(engine, chunks, 306, 3);
            faulty.FailMove = d => d == positions;
            await Assert.ThrowsAsync<IOException>(() => engine.CheckpointAsync(CancellationToken.None)); // T2: not renamed
            Assert.Equal(named, PositionsFile.Read(faulty, positions)!.Value.Token);
        } // the final checkpoint's rename fails too

        faulty.FailMove = null;
        Assert.Equal(named, PositionsFile.Read(faulty, positions)!.Value.Token);
        await using var reopened = ChunkEngine.Open(options);
        Assert.False(reopened.CheckpointLost, $"checkpoint {named} (the one the positions file names) was purged by a failed checkpoint");
        Assert.False(reopened.RebuiltIndex);
        await AssertHeldAsync(reopened, chunks);
    }

    /// <summary>
    /// A reopened engine counts the checkpoint it recovered (T1) as named: when its first checkpoint (T2) renames the
    /// positions file but the folder's fsync fails, T1 is kept, so a power cut that takes the rename back still finds
    /// it. Counted as unnamed, T1 is purged and the restart rebuilds the index from every segment. Real FASTER index,
    /// in-memory files that can lose power.
    /// </summary>
    [Fact]
    public async Task A_reopened_engine_keeps_the_checkpoint_it_recovered_while_a_newer_name_is_not_durable()
    {
        var memory = new MemoryFiles("/r3");
        var faulty = new FaultyFiles(memory);
        var positions = EngineLayout.Of(Options(faulty)).Positions;
        var chunks = new List<(ChunkId Id, byte[] Bytes)>();
        await using (var first = ChunkEngine.Open(Options(faulty)))
        {
            await PutAsync(first, chunks, 400, 3);
        } // a clean stop: its final checkpoint is named durably

        var named = PositionsFile.Read(memory, positions)!.Value.Token;
        var second = ChunkEngine.Open(Options(faulty));
        try
        {
            Assert.False(second.RebuiltIndex);
            await PutAsync(second, chunks, 403, 3);
            var syncFailed = 0;
            faulty.FailSync = d => d == Path.GetDirectoryName(positions) && Interlocked.Exchange(ref syncFailed, 1) == 0;
            await Assert.ThrowsAsync<IOException>(() => second.CheckpointAsync(CancellationToken.None));
            Assert.NotEqual(named, PositionsFile.Read(memory, positions)!.Value.Token); // renamed, not durable
            memory.CrashNow(new Random(0)); // every unsynced entry is dropped: the rename is undone
        }
        finally
        {
            await second.AbandonAsync();
        }

        var survivors = memory.Survivors!;
        Assert.Equal(named, PositionsFile.Read(survivors, positions)!.Value.Token);
        await using var restarted = ChunkEngine.Open(Options(survivors));
        Assert.False(restarted.CheckpointLost, $"checkpoint {named} (the one the durable positions file names) was purged by a failed checkpoint");
        Assert.False(restarted.RebuiltIndex);
        await AssertHeldAsync(restarted, chunks);
    }

    private static async Task PutAsync(ChunkEngine engine, List<(ChunkId Id, byte[] Bytes)> chunks, int first, int count)
    {
        for (var n = first; n < first + count; n++)
        {
            var (id, bytes) = Chunk(n);
            Assert.Equal(AppendOutcome.Stored, await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None));
            chunks.Add((id, bytes));
        }
    }

    private static async Task AssertHeldAsync(ChunkEngine engine, List<(ChunkId Id, byte[] Bytes)> chunks)
    {
        foreach (var (id, bytes) in chunks)
        {
            using var chunk = await engine.ReadAsync(id, CancellationToken.None);
            Assert.NotNull(chunk);
            Assert.True(chunk.Data.Span.SequenceEqual(bytes), $"chunk {id.ToShortString()} reads back other bytes");
        }
    }
}
