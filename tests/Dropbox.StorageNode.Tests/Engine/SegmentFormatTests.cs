using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Durable;
using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Tests.Engine;

/// <summary>Segment records are durable-log frames: typed, versioned, checksummed; a newer version is a clear error.</summary>
public sealed class SegmentFormatTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private EngineOptions Options() => new()
    {
        Directory = _dir.Sub("engine"),
        IndexDirectory = _dir.Sub("index"),
        CheckpointInterval = TimeSpan.Zero,
        IndexSizeBytes = 1L << 12,
        IndexMemoryBytes = 1L << 15,
        IndexPageSizeBytes = 1L << 12,
    };

    private string SegmentPath => Directory.GetFiles(Path.Combine(_dir.Sub("engine"), "segments"), "*.fseg").Order(StringComparer.Ordinal).Single();

    [Fact]
    public async Task Every_record_the_engine_writes_is_a_segment_frame_of_the_current_version()
    {
        var chunks = Enumerable.Range(0, 5).Select(i => TestChunks.Random(3_000 + i, i)).ToList();
        await using (var engine = ChunkEngine.Open(Options()))
        {
            foreach (var (id, bytes) in chunks)
            {
                await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
            }

            await engine.DeleteAsync(chunks[0].Id, CancellationToken.None);
        }

        var file = await File.ReadAllBytesAsync(SegmentPath);
        var scan = RecordLog<RecordHeader>.Scan(file, SegmentRecordCodec.Instance, SegmentPath);

        Assert.Equal(0, scan.TornBytes);
        Assert.Empty(scan.Damaged);
        Assert.Equal([.. chunks.Select(c => c.Id), chunks[0].Id], scan.Records.Select(r => r.Record.Id));
        Assert.Equal([.. Enumerable.Repeat(RecordKind.Chunk, 5), RecordKind.Delete], scan.Records.Select(r => r.Record.Kind));
        Assert.True(LogFrame.TryReadHeader(file, out var first));
        Assert.Equal((LogFrame.FrameVersion, SegmentRecord.RecordType, SegmentRecord.BodyVersion), (first.FrameVersion, first.RecordType, first.BodyVersion));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(4096)]
    [InlineData(1 << 20)]
    public void A_record_written_in_place_is_byte_for_byte_the_one_written_in_two_pieces(int payloadSize)
    {
        var (id, payload) = TestChunks.Random(payloadSize, payloadSize);
        var header = new byte[SegmentRecord.HeaderSize];
        SegmentRecord.WriteHeader(header, new System.IO.Hashing.XxHash3(), RecordKind.Chunk, id, ChunkEncoding.Lz4, payloadSize + 5, payload);
        var inPlace = new byte[SegmentRecord.HeaderSize + payloadSize];
        payload.CopyTo(inPlace, SegmentRecord.HeaderSize);

        SegmentRecord.WriteInPlace(inPlace, RecordKind.Chunk, id, ChunkEncoding.Lz4, payloadSize + 5);

        Assert.Equal([.. header, .. payload], inPlace);
        Assert.True(SegmentRecord.TryRead(inPlace, out var parsed));
        Assert.Equal((RecordKind.Chunk, id, ChunkEncoding.Lz4, payloadSize + 5, payloadSize), (parsed.Kind, parsed.Id, parsed.Encoding, parsed.PlainLength, parsed.StoredLength));
    }

    [Fact]
    public async Task Chunks_staged_in_place_across_the_staging_buffer_and_one_too_large_for_it_read_back_after_a_reopen()
    {
        // One batch: 1 MiB chunks fill the staging buffer, so the fifth is staged after a mid-batch write of the
        // first four; 4 MiB (the default largest chunk) is staged in one piece after another such write; 6 MiB does
        // not fit and is appended in pieces.
        var first = TestChunks.Random(1000, 99);
        var chunks = new[] { 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 4 << 20, (6 << 20) + 3, 100 }
            .Select((size, i) => TestChunks.Random(size, 100 + i))
            .ToList();
        var files = new Faults.FaultyFiles(DiskFiles.Instance);
        await using (var engine = ChunkEngine.Open(Options() with { Files = files }))
        {
            // Hold the writer in the first put's write so the others queue up and go as one batch, in order.
            using var gate = new ManualResetEventSlim();
            using var holding = new ManualResetEventSlim();
            var held = 0;
            files.BeforeWrite = path =>
            {
                if (path.EndsWith(Segment.FramedExtension, StringComparison.Ordinal) && Interlocked.Exchange(ref held, 1) == 0)
                {
                    holding.Set();
                    Assert.True(gate.Wait(TimeSpan.FromSeconds(30)));
                }
            };
            var firstPut = engine.AppendAsync(first.Id, ChunkEncoding.Raw, first.Bytes.Length, first.Bytes, CancellationToken.None).AsTask();
            Assert.True(holding.Wait(TimeSpan.FromSeconds(30)), "the first put was never written");
            var puts = chunks.Select(c => engine.AppendAsync(c.Id, ChunkEncoding.Raw, c.Bytes.Length, c.Bytes, CancellationToken.None).AsTask()).ToList();
            gate.Set();
            await firstPut;
            await Task.WhenAll(puts);

            // Every record but the 6 MiB one was staged in place, and two reservations wrote what was staged first.
            var appender = engine.ActiveAppender!;
            Assert.Equal((8L, 2L), (appender.Reservations, appender.ReserveWrites));
        }

        chunks.Insert(0, first);
        var file = await File.ReadAllBytesAsync(SegmentPath);
        var scan = RecordLog<RecordHeader>.Scan(file, SegmentRecordCodec.Instance, SegmentPath);
        Assert.Equal(0, scan.TornBytes);
        Assert.Empty(scan.Damaged);
        Assert.Equal(chunks.Select(c => c.Id).Order(), scan.Records.Select(r => r.Record.Id).Order());

        await using var reopened = ChunkEngine.Open(Options());
        foreach (var (id, bytes) in chunks)
        {
            using var stored = await reopened.ReadAsync(id, CancellationToken.None);
            Assert.NotNull(stored);
            Assert.True(stored.Data.Span.SequenceEqual(bytes), $"chunk of {bytes.Length} bytes read back different");
        }
    }

    [Fact]
    public async Task A_segment_record_of_a_newer_version_stops_the_open_with_an_error_that_says_so()
    {
        var (id, bytes) = TestChunks.Random(2_000, 7);
        await using (var engine = ChunkEngine.Open(Options()))
        {
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }

        // Rewrite the first frame's header as a newer build would: body version 2, header hash recomputed.
        var file = await File.ReadAllBytesAsync(SegmentPath);
        Assert.True(LogFrame.TryReadHeader(file, out var frame));
        LogFrame.WriteHeader(file, SegmentRecord.RecordType, SegmentRecord.BodyVersion + 1, frame.BodyLength, frame.BodyHash);
        await File.WriteAllBytesAsync(SegmentPath, file);
        File.Delete(EngineLayout.Of(Options()).Positions);

        var error = Assert.Throws<LogFormatException>(() => ChunkEngine.Open(Options()));
        Assert.Contains("newer build", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_build_that_lists_only_dot_seg_files_finds_no_framed_segment_to_cut()
    {
        // The build before segment format 2 opens every "*.seg" file as format 1 and cuts the last one at the first
        // record without its magic: a framed segment it listed would be cut to nothing.
        var chunks = Enumerable.Range(0, 3).Select(i => TestChunks.Random(3_000 + i, 40 + i)).ToList();
        await using (var engine = ChunkEngine.Open(Options()))
        {
            foreach (var (id, bytes) in chunks)
            {
                await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
            }
        }

        var segments = Path.Combine(_dir.Sub("engine"), "segments");
        Assert.Empty(Directory.EnumerateFiles(segments, "*.seg"));
        Assert.NotEmpty(Directory.EnumerateFiles(segments, "*" + Segment.FramedExtension));
    }

    [Fact]
    public async Task A_segment_number_an_older_build_reused_stops_the_open_and_changes_nothing()
    {
        var (id, bytes) = TestChunks.Random(2_000, 8);
        await using (var engine = ChunkEngine.Open(Options()))
        {
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }

        // After a downgrade the older build ignores the framed segments and starts its own segment 1.
        var framed = SegmentPath;
        var legacy = Path.ChangeExtension(framed, Segment.LegacyExtension);
        await File.WriteAllBytesAsync(legacy, [1, 2, 3]);
        var framedBytes = await File.ReadAllBytesAsync(framed);

        var error = Assert.Throws<LogFormatException>(() => ChunkEngine.Open(Options()));
        Assert.Contains("downgrading is not supported", error.Message, StringComparison.Ordinal);
        Assert.Equal(framedBytes, await File.ReadAllBytesAsync(framed));
        Assert.Equal([1, 2, 3], await File.ReadAllBytesAsync(legacy));
    }

    [Fact]
    public async Task A_chunk_too_large_for_one_frame_is_refused_and_nothing_is_written()
    {
        await using var engine = ChunkEngine.Open(Options());
        var bytes = new byte[SegmentRecord.MaxPayload + 1];
        var id = ChunkId.Compute(bytes);

        var error = await Assert.ThrowsAsync<Dropbox.Shared.Errors.DropboxException>(() => engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None).AsTask());
        Assert.Equal(Dropbox.Shared.Errors.ErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("at most", error.Message, StringComparison.Ordinal);
        Assert.False(engine.Contains(id));
        Assert.Equal(0, new FileInfo(SegmentPath).Length);
    }
}
