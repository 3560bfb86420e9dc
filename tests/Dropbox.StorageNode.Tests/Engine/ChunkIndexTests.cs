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

    private static void AssertSnapshotIs(Dictionary<ChunkId, ChunkLocation> expected, List<KeyValuePair<ChunkId, ChunkLocation>> snapshot)
    {
        Assert.Equal(snapshot.Count, snapshot.Select(e => e.Key).Distinct().Count());
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
