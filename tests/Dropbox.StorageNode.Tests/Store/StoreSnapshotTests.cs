using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Store;

/// <summary>The online backup's snapshot of a chunk store, on a real engine over real files.</summary>
public sealed class StoreSnapshotTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A small engine for snapshot tests (also BackupPartsTests').</summary>
    internal static EngineOptions Options(string directory) => TestChunks.SmallEngine(directory);

    [Fact]
    public async Task A_snapshot_links_sealed_segments_copies_the_active_one_and_opens_with_every_chunk_unaffected_by_later_writes_and_deletes()
    {
        // Arrange: several segments' worth of chunks in a running engine.
        var data = _dir.CreateSub("data");
        // 55 chunks of 100 kB in 1 MiB segments: five full, sealed segments and an active one with room for what follows.
        var chunks = Enumerable.Range(0, 55).Select(i => TestChunks.Random(100_000, 500 + i)).ToList();
        await using var engine = ChunkEngine.Open(Options(data));
        foreach (var (id, bytes) in chunks)
        {
            await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        }

        // Act: the snapshot, then more appends and deletes on the live engine (what a backup must not see).
        var destination = Path.Combine(_dir.CreateSub("backups"), "20261201T220000Z", "data");
        var result = await StoreSnapshot.TakeAsync(engine, new NodeId("storage-x"), destination, CancellationToken.None);
        var later = TestChunks.Random(100_000, 9999);
        await engine.AppendAsync(later.Id, ChunkEncoding.Raw, later.Bytes.Length, later.Bytes, CancellationToken.None);
        foreach (var (id, _) in chunks.Take(30))
        {
            await engine.DeleteAsync(id, CancellationToken.None);
        }

        await engine.CompactAsync(CancellationToken.None);

        // Assert: sealed segments are links, the active one a copy; the snapshot opens as an engine (index rebuilt
        // from the segments) holding exactly the chunks stored before it, byte for byte.
        await using var restored = ChunkEngine.Open(Options(destination));
        Assert.True(restored.RebuiltIndex);
        Assert.False(restored.Contains(later.Id));
        foreach (var (id, bytes) in chunks)
        {
            using var chunk = await restored.ReadAsync(id, CancellationToken.None);
            Assert.NotNull(chunk);
            Assert.Equal(bytes, chunk.Data.ToArray());
        }

        Assert.True(result.Segments >= 5, $"{result.Segments} segments");
        Assert.Equal(result.Segments - 1, result.Linked);
        Assert.Equal("storage-x", (await File.ReadAllTextAsync(Path.Combine(destination, "node-id"))).Trim());
        Assert.False(Directory.Exists(destination + ".partial"));
    }

    [Fact]
    public async Task A_node_restored_from_a_snapshot_taken_while_the_active_segment_was_empty_appends_to_its_own_file_not_the_live_nodes()
    {
        // Arrange: a sealed segment with chunks and an empty active one (reopened with a smaller segment size, the
        // last segment counts as full and a new, empty one is created).
        var data = _dir.CreateSub("data");
        var chunks = Enumerable.Range(0, 3).Select(i => TestChunks.Random(100_000, 700 + i)).ToList();
        await using (var first = ChunkEngine.Open(Options(data)))
        {
            foreach (var (id, bytes) in chunks)
            {
                await first.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
            }
        }

        await using var engine = ChunkEngine.Open(Options(data) with { SegmentMaxBytes = 200_000 });
        using (var hold = await engine.HoldSegmentsAsync(CancellationToken.None))
        {
            Assert.Equal(0, hold.Segments[^1].Length);
        }

        var liveSegments = Directory.GetFiles(Path.Combine(data, StoreSnapshot.SegmentsFolder)).ToDictionary(f => f, f => new FileInfo(f).Length);
        var destination = Path.Combine(_dir.CreateSub("backups"), "20261201T230000Z", "data");
        await StoreSnapshot.TakeAsync(engine, new NodeId("storage-x"), destination, CancellationToken.None);

        // Act: a node started on the snapshot stores a chunk.
        var added = TestChunks.Random(50_000, 799);
        await using (var restored = ChunkEngine.Open(Options(destination)))
        {
            await restored.AppendAsync(added.Id, ChunkEncoding.Raw, added.Bytes.Length, added.Bytes, CancellationToken.None);
            foreach (var (id, bytes) in chunks)
            {
                using var chunk = await restored.ReadAsync(id, CancellationToken.None);
                Assert.Equal(bytes, chunk!.Data.ToArray());
            }
        }

        // Assert: not one of the live node's segment files changed.
        foreach (var (file, length) in liveSegments)
        {
            Assert.Equal(length, new FileInfo(file).Length);
        }

        Assert.False(engine.Contains(added.Id));
    }

    [Fact]
    public async Task A_snapshot_refuses_a_destination_that_exists_and_writes_nothing()
    {
        await using var engine = ChunkEngine.Open(Options(_dir.CreateSub("data")));
        var destination = _dir.CreateSub("taken");
        File.WriteAllText(Path.Combine(destination, "marker"), "x");

        var refused = await Assert.ThrowsAsync<DropboxException>(() => StoreSnapshot.TakeAsync(engine, new NodeId("n"), destination, CancellationToken.None));

        Assert.Equal(ErrorKind.AlreadyExists, refused.Kind);
        Assert.Equal(["marker"], Directory.GetFileSystemEntries(destination).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Compaction_waits_while_a_snapshot_holds_the_segments()
    {
        await using var engine = ChunkEngine.Open(Options(_dir.CreateSub("data")));
        var (id, bytes) = TestChunks.Random(1000, 7);
        await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);

        Task<int> compaction;
        using (var hold = await engine.HoldSegmentsAsync(CancellationToken.None))
        {
            Assert.Single(hold.Segments, s => s.Active);
            compaction = engine.CompactAsync(CancellationToken.None);
            Assert.False(compaction.IsCompleted);
        }

        await compaction.WaitAsync(TimeSpan.FromSeconds(30));
    }
}
