using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;

namespace Dropbox.StorageNode.Tests.Engine;

public sealed class ChunkIndexTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    // A small in-memory log (eight 4 KiB pages) so most of the index's records are on its device, not in memory.
    private ChunkIndex Open() => new(_dir.Sub("index"), new EngineOptions
    {
        Directory = _dir.Path,
        IndexSizeBytes = 1L << 12,
        IndexMemoryBytes = 1L << 15,
        IndexPageSizeBytes = 1L << 12,
    });

    private static ChunkId Id(int n) => ChunkId.Compute(BitConverter.GetBytes(n));

    private static ChunkLocation Location(int n, int version) => new(segment: version, offset: n * 64L, storedLength: n + 1, plainLength: n + 2, ChunkEncoding.Raw);

    /// <summary>
    /// Puts 2,000 chunks, moves half of them (some twice, with checkpoints between so later versions are appended
    /// after older ones on the device), deletes a fifth of them and puts some of those back.
    /// </summary>
    private static async Task<Dictionary<ChunkId, ChunkLocation>> ChurnAsync(ChunkIndex index)
    {
        var expected = new Dictionary<ChunkId, ChunkLocation>();
        for (var n = 0; n < 2000; n++)
        {
            index.Upsert(Id(n), Location(n, 1));
            expected[Id(n)] = Location(n, 1);
        }

        await index.CheckpointAsync(CancellationToken.None);
        for (var n = 0; n < 2000; n += 2)
        {
            index.Upsert(Id(n), Location(n, 2));
            expected[Id(n)] = Location(n, 2);
        }

        await index.CheckpointAsync(CancellationToken.None);
        for (var n = 0; n < 2000; n += 5)
        {
            index.Delete(Id(n));
            expected.Remove(Id(n));
        }

        for (var n = 0; n < 2000; n += 4)
        {
            index.Upsert(Id(n), Location(n, 3));
            expected[Id(n)] = Location(n, 3);
        }

        for (var n = 1; n < 2000; n += 10)
        {
            index.Delete(Id(n));
            expected.Remove(Id(n));
        }

        return expected;
    }

    private static void AssertSnapshotIs(Dictionary<ChunkId, ChunkLocation> expected, IReadOnlyDictionary<ChunkId, ChunkLocation> snapshot)
    {
        Assert.Equal(expected.OrderBy(e => e.Key), snapshot.OrderBy(e => e.Key));
    }

    [Fact]
    public async Task A_snapshot_lists_each_live_chunk_once_at_its_newest_location_and_no_deleted_one()
    {
        using var index = Open();
        var expected = await ChurnAsync(index);

        AssertSnapshotIs(expected, index.Snapshot());
        foreach (var (id, location) in expected)
        {
            Assert.True(index.TryGet(id, out var found));
            Assert.Equal(location, found);
        }
    }

    [Fact]
    public async Task A_snapshot_sees_the_updates_and_deletes_made_in_place_in_the_mutable_region()
    {
        using var index = Open();
        var expected = new Dictionary<ChunkId, ChunkLocation>();
        void Put(int n, int version)
        {
            index.Upsert(Id(n), Location(n, version));
            expected[Id(n)] = Location(n, version);
        }

        void Delete(int n)
        {
            index.Delete(Id(n));
            expected.Remove(Id(n));
        }

        Put(2, 1);
        Put(4, 1);
        await index.CheckpointAsync(CancellationToken.None); // A fold-over: the first copies of 2 and 4 are read-only now.
        Put(2, 2);
        Put(4, 2);
        Put(1, 1);
        Put(3, 1);
        var tail = index.LogTailAddress;
        Put(1, 2);
        Put(2, 3);
        Delete(1); // Its only record: the tombstone is set in place and the hash entry elided.
        Delete(2);
        Delete(3); // Never put back: must be absent.
        Delete(4); // An older live copy on the log, never put back: must be absent.
        Assert.Equal(tail, index.LogTailAddress); // Nothing appended: every update and delete above was in place.
        Put(1, 3);
        Put(2, 4);

        AssertSnapshotIs(expected, index.Snapshot());
    }

    [Fact]
    public async Task A_snapshot_of_an_index_recovered_from_its_checkpoint_lists_what_the_checkpoint_held()
    {
        Guid token;
        Dictionary<ChunkId, ChunkLocation> expected;
        using (var index = Open())
        {
            expected = await ChurnAsync(index);
            token = await index.CheckpointAsync(CancellationToken.None);
        }

        using var recovered = Open();
        Assert.True(recovered.TryRecover(token));

        AssertSnapshotIs(expected, recovered.Snapshot());
    }
}
