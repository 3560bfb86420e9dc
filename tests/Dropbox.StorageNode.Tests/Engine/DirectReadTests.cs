using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Tests.Engine.Faults;

namespace Dropbox.StorageNode.Tests.Engine;

/// <summary>
/// Large records are read with O_DIRECT on a real file (ext4 here, as on the appliance): the aligned blocks around an
/// unaligned record, at the end of a closed segment cut to its last record too, after a restart too; a corrupt record
/// read that way is refused; where the file system refuses the read the engine reads buffered.
/// </summary>
public sealed class DirectReadTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FaultyFiles _files = new(DiskFiles.Instance);

    private EngineOptions Options => TestChunks.SmallEngine(_dir.Path) with { Files = _files, DirectReads = true };

    public void Dispose() => _dir.Dispose();

    /// <summary>Small and large chunks of odd sizes, interleaved, so records start and end off block boundaries.</summary>
    private static List<(ChunkId Id, byte[] Bytes)> MixedChunks() =>
        Enumerable.Range(0, 12).Select(i => TestChunks.Random(i % 3 == 0 ? 3_001 + i : Segment.DirectReadMinBytes + 70_001 * i, 700 + i)).ToList();

    private static async Task AppendAllAsync(ChunkEngine engine, IEnumerable<(ChunkId Id, byte[] Bytes)> chunks)
    {
        foreach (var (id, bytes) in chunks)
        {
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Large_records_are_read_directly_and_small_ones_through_the_page_cache_with_the_same_bytes()
    {
        var chunks = MixedChunks();
        var large = chunks.Count(c => c.Bytes.Length + SegmentRecord.HeaderSize >= Segment.DirectReadMinBytes);
        var engine = ChunkEngine.Open(Options);
        await AppendAllAsync(engine, chunks);

        // Several segments: the closed ones are cut to their last record, whose aligned read runs past the end.
        Assert.True(Directory.GetFiles(Path.Combine(_dir.Path, "segments")).Length >= 3);
        Assert.Contains(chunks, c => engine.TryGetLocation(c.Id, out var l) && l.Offset % 4096 != 0);
        foreach (var (id, bytes) in chunks)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
        }

        Assert.Equal(large, _files.DirectReads);
        Assert.Equal(large, _files.DirectReadAttempts);

        // After a restart the recovered segments read directly too.
        await engine.DisposeAsync();
        await using var reopened = ChunkEngine.Open(Options);
        foreach (var (id, bytes) in chunks)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(reopened, id));
        }

        Assert.Equal(2 * large, _files.DirectReads);
    }

    [Fact]
    public async Task A_flipped_byte_in_a_record_read_directly_is_refused_as_data_loss()
    {
        var chunks = MixedChunks();
        await using var engine = ChunkEngine.Open(Options);
        await AppendAllAsync(engine, chunks);
        var victim = chunks[4];
        Assert.True(victim.Bytes.Length >= Segment.DirectReadMinBytes);
        Assert.True(engine.TryGetLocation(victim.Id, out var location));
        var segment = Path.Combine(_dir.Path, "segments", Segment.FileName(location.Segment));
        using (var stream = new FileStream(segment, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            stream.Position = location.Offset + SegmentRecord.HeaderSize + victim.Bytes.Length - 7;
            var b = stream.ReadByte();
            stream.Position--;
            stream.WriteByte((byte)(b ^ 0x40));
        }

        var refused = await Assert.ThrowsAsync<DropboxException>(async () => await engine.ReadAsync(victim.Id, CancellationToken.None));

        Assert.Equal(ErrorKind.DataLoss, refused.Kind);
        Assert.Equal(1, _files.DirectReads);
        Assert.Equal(chunks[5].Bytes, await TestChunks.ReadAllAsync(engine, chunks[5].Id));
        Assert.Equal(2, _files.DirectReads);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Where_a_direct_read_is_refused_or_disagrees_with_a_buffered_one_the_chunk_is_served_and_its_segment_reads_buffered_after(bool refused)
    {
        var chunks = MixedChunks();
        await using var engine = ChunkEngine.Open(Options);
        await AppendAllAsync(engine, chunks);
        if (refused)
        {
            _files.FailDirectRead = () => true;
        }
        else
        {
            // A file system whose direct read returns other bytes than its buffered one: not reported as loss.
            _files.AfterDirectRead = bytes => bytes[bytes.Length / 2] ^= 0x10;
        }

        var first = chunks[1];
        Assert.True(engine.TryGetLocation(first.Id, out var location));

        Assert.Equal(first.Bytes, await TestChunks.ReadAllAsync(engine, first.Id));
        Assert.Equal(1, _files.DirectReadAttempts);
        Assert.Equal(refused ? 0 : 1, _files.DirectReads);

        // The same segment's other large records: no direct attempt again.
        var sameSegment = chunks.Where(c => c.Id != first.Id && c.Bytes.Length >= Segment.DirectReadMinBytes && engine.TryGetLocation(c.Id, out var l) && l.Segment == location.Segment).ToList();
        Assert.NotEmpty(sameSegment);
        foreach (var (id, bytes) in sameSegment)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
        }

        Assert.Equal(1, _files.DirectReadAttempts);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Reads_of_the_newest_records_race_the_rewrite_of_the_active_segment_s_last_block(bool directWrites)
    {
        await using var engine = ChunkEngine.Open(Options with { SegmentMaxBytes = 1L << 30, DirectWrites = directWrites });
        var latest = new List<(ChunkId Id, byte[] Bytes)>();
        var done = false;
        var errors = new List<string>();
        var reads = 0;
        var reader = Task.Run(async () =>
        {
            while (!Volatile.Read(ref done))
            {
                (ChunkId Id, byte[] Bytes)[] newest;
                lock (latest)
                {
                    newest = latest.TakeLast(3).ToArray();
                }

                foreach (var (id, bytes) in newest)
                {
                    try
                    {
                        using var chunk = await engine.ReadAsync(id, CancellationToken.None);
                        if (chunk is null || !chunk.Data.Span.SequenceEqual(bytes))
                        {
                            lock (errors) { errors.Add($"wrong bytes for {id}"); }
                        }

                        Interlocked.Increment(ref reads);
                    }
                    catch (Exception e)
                    {
                        lock (errors) { errors.Add(e.ToString()); }
                    }
                }
            }
        });

        // Batches of 1-3 odd-sized large records: each flush rewrites the partial last block the reader's records end in.
        var random = new Random(5);
        for (var i = 0; i < 300; i++)
        {
            var batch = Enumerable.Range(0, 1 + (i % 3)).Select(k => TestChunks.Random(Segment.DirectReadMinBytes + random.Next(1, 9000), 5_000 + (i * 10) + k)).ToList();
            await Task.WhenAll(batch.Select(c => engine.AppendAsync(c.Id, ChunkEncoding.Raw, c.Bytes.Length, c.Bytes, CancellationToken.None).AsTask()));
            lock (latest)
            {
                latest.AddRange(batch);
            }
        }

        Volatile.Write(ref done, true);
        await reader;
        Assert.Empty(errors.Take(3));
        Assert.True(_files.DirectReads > 50, $"only {_files.DirectReads} direct reads of {reads}");
    }

    [Fact]
    public async Task Reads_race_compaction_retiring_their_segment()
    {
        await using var engine = ChunkEngine.Open(Options with { SegmentMaxBytes = 1L << 21 });
        var chunks = Enumerable.Range(0, 90).Select(i => TestChunks.Random(Segment.DirectReadMinBytes + (1_003 * i), 900 + i)).ToList();
        await AppendAllAsync(engine, chunks);
        var keep = chunks.Where((_, i) => i % 3 == 0).ToList();
        foreach (var (id, _) in chunks.Where((_, i) => i % 3 != 0))
        {
            await engine.DeleteAsync(id, CancellationToken.None);
        }

        var done = false;
        var errors = new List<string>();
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            while (!Volatile.Read(ref done))
            {
                foreach (var (id, bytes) in keep)
                {
                    try
                    {
                        using var chunk = await engine.ReadAsync(id, CancellationToken.None);
                        if (chunk is null || !chunk.Data.Span.SequenceEqual(bytes))
                        {
                            lock (errors) { errors.Add($"wrong bytes for {id}"); }
                        }
                    }
                    catch (DropboxException e) when (e.Kind == ErrorKind.Unavailable)
                    {
                        // The chunk kept moving under compaction: the caller retries; not an error.
                    }
                    catch (Exception e)
                    {
                        lock (errors) { errors.Add(e.ToString()); }
                    }
                }
            }
        })).ToList();

        var compacted = await engine.CompactAsync(CancellationToken.None);
        Volatile.Write(ref done, true);
        await Task.WhenAll(readers);

        Assert.Empty(errors.Take(3));
        Assert.True(compacted > 0);
        foreach (var (id, bytes) in keep)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
        }
    }

    [Fact]
    public async Task With_direct_reads_off_every_record_is_read_through_the_page_cache()
    {
        var chunks = MixedChunks();
        await using var engine = ChunkEngine.Open(Options with { DirectReads = false });
        await AppendAllAsync(engine, chunks);

        foreach (var (id, bytes) in chunks)
        {
            Assert.Equal(bytes, await TestChunks.ReadAllAsync(engine, id));
        }

        Assert.Equal(0, _files.DirectReadAttempts);
    }
}
