using System.Security.Cryptography;
using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Store;
using Xunit.Abstractions;

namespace Dropbox.IntegrationTests.Storage;

/// <summary>
/// A byte flipped on disk under a storage node, found by its scrub: repaired from the other replica when one holds a
/// good copy; when none does, the versions naming the chunk are damaged in history and check, and a download refuses
/// with an error naming the damage instead of writing bad bytes. Real nodes on 127.0.0.1, replication two.
/// </summary>
public sealed class ScrubRepairTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly ITestOutputHelper _output;

    public ScrubRepairTests(ITestOutputHelper output)
    {
        _output = output;
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_chunk_a_scrub_finds_corrupt_is_copied_back_from_the_other_replica_and_reads_intact_again()
    {
        // Arrange: a one-chunk file on both nodes.
        await using var cluster = await ScrubCluster.StartAsync(_dir);
        var (state, folder) = await cluster.LoginAsync("alpha");
        var content = RandomNumberGenerator.GetBytes(100_000);
        var id = ChunkId.Compute(content);
        await File.WriteAllBytesAsync(Path.Combine(folder, "photo.bin"), content);
        await ScrubCluster.ClientAsync(state, "sync", "--once");
        await ScrubCluster.WaitUntilAsync(() => cluster.Chunk(id)?.Locations.Count == 2, () => $"chunk on {cluster.Chunk(id)?.Locations}");

        // Act: rot one byte on storage-1, and scrub it.
        cluster.CorruptOnDisk(0, content);
        var scrub = await cluster.ChunkStore(0).ScrubAsync(CancellationToken.None);

        // Assert: quarantined there; then the metadata node had storage-2 copy it back, so storage-1 holds it intact
        // again and both are holders.
        Assert.Equal([id], scrub.Corrupt);
        await ScrubCluster.WaitUntilAsync(
            () => !cluster.ChunkStore(0).QuarantinedIds().Contains(id) && cluster.Chunk(id)?.Locations.Count == 2,
            () => $"quarantined on storage-1: {cluster.ChunkStore(0).QuarantinedIds().Contains(id)}; holders: {cluster.Chunk(id)?.Locations}");
        using (var repaired = await cluster.ChunkStore(0).ReadAsync(id, CancellationToken.None))
        {
            Assert.True(ChunkStore.IsIntact(id, repaired));
        }

        Assert.Empty((await cluster.ChunkStore(0).ScrubAsync(CancellationToken.None)).Corrupt);
        Assert.Empty(cluster.Store.CheckConsistency());

        // A new device gets every byte.
        var (betaState, betaFolder) = await cluster.LoginAsync("beta");
        await ScrubCluster.ClientAsync(betaState, "sync", "--once");
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(betaFolder, "photo.bin")));
    }

    [Fact]
    public async Task A_chunk_every_replica_of_which_is_corrupt_marks_its_versions_damaged_and_a_download_refuses_naming_the_damage()
    {
        // Arrange: two versions of a file; the second's chunk will rot on both nodes.
        await using var cluster = await ScrubCluster.StartAsync(_dir);
        var (state, folder) = await cluster.LoginAsync("alpha");
        var path = Path.Combine(folder, "report.bin");
        var first = RandomNumberGenerator.GetBytes(90_000);
        await File.WriteAllBytesAsync(path, first);
        await ScrubCluster.ClientAsync(state, "sync", "--once");
        var second = RandomNumberGenerator.GetBytes(80_000);
        await File.WriteAllBytesAsync(path, second);
        await ScrubCluster.ClientAsync(state, "sync", "--once");
        var id = ChunkId.Compute(second);
        await ScrubCluster.WaitUntilAsync(() => cluster.Chunk(id)?.Locations.Count == 2, () => $"chunk on {cluster.Chunk(id)?.Locations}");

        // Act: rot it on both nodes; both scrubs find it.
        cluster.CorruptOnDisk(0, second);
        cluster.CorruptOnDisk(1, second);
        Assert.Equal([id], (await cluster.ChunkStore(0).ScrubAsync(CancellationToken.None)).Corrupt);
        Assert.Equal([id], (await cluster.ChunkStore(1).ScrubAsync(CancellationToken.None)).Corrupt);

        // Assert: the metadata node lists no holder any more (no plan sends a client to a quarantined copy).
        await ScrubCluster.WaitUntilAsync(() => cluster.Chunk(id)?.Locations.Count == 0, () => $"holders: {cluster.Chunk(id)?.Locations}");

        // history marks the newest version damaged, and only it.
        var history = await ScrubCluster.ClientAsync(state, "history", "report.bin");
        var lines = history.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Contains("DAMAGED", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("DAMAGED", lines[1], StringComparison.Ordinal);
        var json = await ScrubCluster.ClientAsync(state, "history", "report.bin", "--json");
        Assert.Contains("\"damaged\":true", json, StringComparison.Ordinal);
        Assert.Contains("\"damaged\":false", json, StringComparison.Ordinal);

        // check names the damaged version.
        var problems = cluster.Store.CheckConsistency();
        var damaged = Assert.Single(problems, p => p.StartsWith("damaged: ", StringComparison.Ordinal));
        Assert.Contains("'report.bin'", damaged, StringComparison.Ordinal);
        Assert.Contains(id.ToShortString(), damaged, StringComparison.Ordinal);

        // A new device's download fails naming the damage, and writes no bad bytes.
        var (betaState, betaFolder) = await cluster.LoginAsync("beta");
        var (code, stdout, stderr) = await ScrubCluster.TryClientAsync(betaState, "sync", "--once");
        _output.WriteLine(stdout + stderr);
        Assert.True(code != 0, $"sync succeeded:\n{stdout}\n{stderr}");
        Assert.Contains("damaged", stdout + stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(betaFolder, "report.bin")));
        Assert.DoesNotContain(Directory.GetFiles(betaFolder, "*", SearchOption.AllDirectories), f => Path.GetFileName(f) != ".dropbox-folder-id");
        Assert.Contains(id.ToString(), stdout + stderr, StringComparison.Ordinal);
    }
}
