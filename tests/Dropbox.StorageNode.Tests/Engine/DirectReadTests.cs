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

    private EngineOptions Options => new()
    {
        Directory = _dir.Path,
        Files = _files,
        CheckpointInterval = TimeSpan.Zero,
        IndexSizeBytes = 1L << 16,
        IndexMemoryBytes = 1L << 20,
        IndexPageSizeBytes = 1L << 16,
        SegmentMaxBytes = 1L << 20,
    };

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

    private static async Task<byte[]> ReadAllAsync(ChunkEngine engine, ChunkId id)
    {
        using var chunk = await engine.ReadAsync(id, CancellationToken.None);
        Assert.NotNull(chunk);
        return chunk.Data.ToArray();
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
            Assert.Equal(bytes, await ReadAllAsync(engine, id));
        }

        Assert.Equal(large, _files.DirectReads);
        Assert.Equal(large, _files.DirectReadAttempts);

        // After a restart the recovered segments read directly too.
        await engine.DisposeAsync();
        await using var reopened = ChunkEngine.Open(Options);
        foreach (var (id, bytes) in chunks)
        {
            Assert.Equal(bytes, await ReadAllAsync(reopened, id));
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
        Assert.Equal(chunks[5].Bytes, await ReadAllAsync(engine, chunks[5].Id));
        Assert.Equal(2, _files.DirectReads);
    }

    [Fact]
    public async Task Where_the_file_system_refuses_a_direct_read_the_segment_reads_buffered_from_then_on()
    {
        var chunks = MixedChunks();
        await using var engine = ChunkEngine.Open(Options);
        await AppendAllAsync(engine, chunks);
        _files.FailDirectRead = () => true;
        var first = chunks[1];
        Assert.True(engine.TryGetLocation(first.Id, out var location));

        Assert.Equal(first.Bytes, await ReadAllAsync(engine, first.Id));
        Assert.Equal(1, _files.DirectReadAttempts);

        // The same segment's other large records: no direct attempt again.
        var sameSegment = chunks.Where(c => c.Id != first.Id && c.Bytes.Length >= Segment.DirectReadMinBytes && engine.TryGetLocation(c.Id, out var l) && l.Segment == location.Segment).ToList();
        Assert.NotEmpty(sameSegment);
        foreach (var (id, bytes) in sameSegment)
        {
            Assert.Equal(bytes, await ReadAllAsync(engine, id));
        }

        Assert.Equal(1, _files.DirectReadAttempts);
        Assert.Equal(0, _files.DirectReads);
    }

    [Fact]
    public async Task With_direct_reads_off_every_record_is_read_through_the_page_cache()
    {
        var chunks = MixedChunks();
        await using var engine = ChunkEngine.Open(Options with { DirectReads = false });
        await AppendAllAsync(engine, chunks);

        foreach (var (id, bytes) in chunks)
        {
            Assert.Equal(bytes, await ReadAllAsync(engine, id));
        }

        Assert.Equal(0, _files.DirectReadAttempts);
    }
}
