using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Fixtures;

/// <summary>A data folder written by the code before the durable-log rework still opens and serves everything.</summary>
public sealed class LegacyDataFolderTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_data_folder_written_before_the_durable_log_serves_every_chunk_byte_identical()
    {
        var folder = CopyFixture();

        await using var engine = ChunkEngine.Open(LegacyDataFolder.Options(folder));

        for (var i = 0; i < LegacyDataFolder.Chunks.Count; i++)
        {
            var (id, _, _) = LegacyDataFolder.Chunks[i];
            using var chunk = await engine.ReadAsync(id, CancellationToken.None);
            if (!LegacyDataFolder.IsLive(i))
            {
                Assert.Null(chunk);
                continue;
            }

            Assert.NotNull(chunk);
            var (encoding, stored) = LegacyDataFolder.Stored(i);
            Assert.Equal(encoding, chunk.Encoding);
            Assert.Equal(stored, chunk.Data.ToArray());
            Assert.True(ChunkStore.IsIntact(id, chunk), $"chunk {i} must hash to its id");
        }

        Assert.False(engine.RebuiltIndex, "the legacy positions file must name a checkpoint that is recovered");
        Assert.Equal(LegacyDataFolder.Chunks.Count(c => LegacyDataFolder.IsLive(LegacyDataFolder.Chunks.ToList().IndexOf(c))), engine.GetStats().ChunkCount);
    }

    [Fact]
    public async Task A_data_folder_written_before_the_durable_log_still_reopens_after_the_first_open()
    {
        var folder = CopyFixture();
        await using (var first = ChunkEngine.Open(LegacyDataFolder.Options(folder)))
        {
            var (id, bytes) = TestChunks.Random(4_000, 4242);
            await first.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }

        await using var engine = ChunkEngine.Open(LegacyDataFolder.Options(folder));

        Assert.False(engine.RebuiltIndex);
        Assert.True(engine.Contains(TestChunks.Random(4_000, 4242).Id));
        for (var i = 0; i < LegacyDataFolder.Chunks.Count; i++)
        {
            Assert.Equal(LegacyDataFolder.IsLive(i), engine.Contains(LegacyDataFolder.Chunks[i].Id));
        }
    }

    [Fact]
    public async Task The_legacy_outbox_hands_out_exactly_the_undelivered_events()
    {
        var folder = CopyFixture();

        await using var outbox = new EventOutbox(Path.Combine(folder, "outbox"));
        var pending = outbox.ReadPending(100);

        // Puts 0..11, then 12..14: one event each; the first few were delivered before the stop.
        var expected = Enumerable.Range(0, LegacyDataFolder.Chunks.Count).Skip(LegacyDataFolder.DeliveredEvents).ToList();
        Assert.Equal(expected.Count, outbox.PendingCount);
        Assert.Equal(expected.Select(i => LegacyDataFolder.Chunks[i].Id), pending.Select(p => p.Event.Id));
        Assert.All(pending.Zip(expected), p => Assert.Equal("ns-" + (p.Second % 3), p.First.Event.Namespace));
        Assert.All(pending.Zip(expected), p => Assert.Equal(LegacyDataFolder.Chunks[p.Second].Bytes.Length, p.First.Event.PlainSize));
    }

    [Fact]
    public async Task The_legacy_outbox_keeps_delivering_and_taking_events_after_it_is_opened()
    {
        var folder = CopyFixture();
        var (id, bytes) = TestChunks.Random(4_000, 4343);
        await using (var outbox = new EventOutbox(Path.Combine(folder, "outbox")))
        {
            var pending = outbox.ReadPending(3);
            outbox.MarkDelivered(pending[^1].End);
            await outbox.AppendAsync(new StoredChunkEvent(id, bytes.Length, ChunkEncoding.Raw, bytes.Length, "later"), CancellationToken.None);
        }

        await using var reopened = new EventOutbox(Path.Combine(folder, "outbox"));
        var rest = reopened.ReadPending(100);

        var expected = Enumerable.Range(0, LegacyDataFolder.Chunks.Count).Skip(LegacyDataFolder.DeliveredEvents + 3).Select(i => LegacyDataFolder.Chunks[i].Id).Append(id);
        Assert.Equal(expected, rest.Select(p => p.Event.Id));
    }

    /// <summary>Not a test: writes the fixture with the code of the day when DBX_WRITE_STORAGE_FIXTURE names an empty folder.</summary>
    [Fact]
    public async Task Fixture_writer_runs_only_when_asked()
    {
        var target = Environment.GetEnvironmentVariable("DBX_WRITE_STORAGE_FIXTURE");
        if (string.IsNullOrEmpty(target))
        {
            return;
        }

        Assert.False(Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any(), "the fixture folder must be empty");
        await LegacyDataFolder.WriteAsync(target);
    }

    [Fact]
    public async Task Legacy_segments_are_read_in_place_and_new_records_go_to_a_framed_segment()
    {
        var folder = CopyFixture();
        var segments = Path.Combine(folder, "segments");
        var legacy = Directory.GetFiles(segments, "*" + Segment.LegacyExtension).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(legacy);

        // The first open cuts the fixture's torn tail; a restart while the last segment is still the legacy one
        // appends nothing to it and cuts nothing more.
        await using (var engine = ChunkEngine.Open(LegacyDataFolder.Options(folder)))
        {
            await AssertEveryFixtureChunkAsync(engine);
        }

        var before = legacy.Select(File.ReadAllBytes).ToList();

        await using (var engine = ChunkEngine.Open(LegacyDataFolder.Options(folder)))
        {
            await AssertEveryFixtureChunkAsync(engine);
        }

        Assert.Equal(before, legacy.Select(File.ReadAllBytes).ToList());

        var (id, bytes) = TestChunks.Random(4_000, 4343);
        await using (var engine = ChunkEngine.Open(LegacyDataFolder.Options(folder)))
        {
            Assert.Equal(AppendOutcome.Stored, await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None));
        }

        Assert.Equal(legacy, Directory.GetFiles(segments, "*" + Segment.LegacyExtension).Order(StringComparer.Ordinal).ToList());
        Assert.Equal(before, legacy.Select(File.ReadAllBytes).ToList());
        var added = Assert.Single(Directory.GetFiles(segments, "*" + Segment.FramedExtension));
        var scan = Dropbox.StorageNode.Engine.Durable.RecordLog<RecordHeader>.Scan(File.ReadAllBytes(added), SegmentRecordCodec.Instance, added);
        Assert.Equal(id, Assert.Single(scan.Records).Record.Id);

        await using var reopened = ChunkEngine.Open(LegacyDataFolder.Options(folder));
        using var chunk = await reopened.ReadAsync(id, CancellationToken.None);
        Assert.Equal(bytes, chunk!.Data.ToArray());
        await AssertEveryFixtureChunkAsync(reopened);
    }

    private static async Task AssertEveryFixtureChunkAsync(ChunkEngine engine)
    {
        for (var i = 0; i < LegacyDataFolder.Chunks.Count; i++)
        {
            using var chunk = await engine.ReadAsync(LegacyDataFolder.Chunks[i].Id, CancellationToken.None);
            if (!LegacyDataFolder.IsLive(i))
            {
                Assert.Null(chunk);
                continue;
            }

            Assert.NotNull(chunk);
            Assert.Equal(LegacyDataFolder.Stored(i).Stored, chunk.Data.ToArray());
        }
    }

    private string CopyFixture()
    {
        var source = Path.Combine(AppContext.BaseDirectory, "Fixtures", LegacyDataFolder.Name);
        Assert.True(Directory.Exists(source), $"fixture missing at {source}");
        var target = _dir.Sub("data");
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }

        foreach (var dir in Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(Path.Combine(target, Path.GetRelativePath(source, dir)));
        }

        return target;
    }
}
