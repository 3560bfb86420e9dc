using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Engine.Files;

namespace Dropbox.StorageNode.Tests.Engine.PowerLoss;

public sealed class PowerLossTests : IDisposable
{
    private readonly string _indexRoot;

    public PowerLossTests()
    {
        // The FASTER index writes its own files (not simulated); RAM-backed /dev/shm keeps a thousand recoveries fast.
        var shm = "/dev/shm";
        var root = OperatingSystem.IsLinux() && Directory.Exists(shm) ? shm : Path.GetTempPath();
        _indexRoot = Path.Combine(root, "dbx-power-loss", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_indexRoot);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_indexRoot, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task<List<PowerLossReport>> RunAsync(int firstSeed, int runs, int crashesPerRun, bool directorySyncWorks = true)
    {
        var reports = new List<PowerLossReport>();
        for (var seed = firstSeed; seed < firstSeed + runs; seed++)
        {
            reports.Add(await PowerLossSimulation.RunAsync(seed, crashesPerRun, Path.Combine(_indexRoot, $"index-{seed}"), directorySyncWorks));
        }

        return reports;
    }

    private static void AssertNothingLost(List<PowerLossReport> reports, int minimumCrashes)
    {
        var bad = reports.Where(r => r.Lost.Count + r.Torn.Count + r.Resurrected.Count > 0).ToList();
        Assert.True(bad.Count == 0, "Power-loss simulation failed; rerun with the seed:\n" + string.Join("\n", bad));
        Assert.True(reports.Sum(r => r.Crashes) >= minimumCrashes, $"only {reports.Sum(r => r.Crashes)} crash points were simulated");
        Assert.True(reports.Sum(r => r.AcknowledgedChecks) > minimumCrashes, "the simulation checked almost no acknowledged chunks");
        Assert.True(reports.Sum(r => r.CheckpointsLost) == 0, "a recovery found the index checkpoint named by the positions file deleted (a full rebuild):\n" + string.Join("\n", reports.Where(r => r.CheckpointsLost > 0)));
    }

    [Fact]
    public async Task Every_acknowledged_chunk_survives_a_thousand_seeded_power_cuts()
    {
        var reports = await RunAsync(firstSeed: 1, runs: 10, crashesPerRun: 100);

        AssertNothingLost(reports, minimumCrashes: 1000);
    }

    [Fact]
    [Trait("Category", "Long")]
    public async Task Every_acknowledged_chunk_survives_twenty_thousand_seeded_power_cuts()
    {
        var reports = await RunAsync(firstSeed: 1000, runs: 40, crashesPerRun: 500);

        AssertNothingLost(reports, minimumCrashes: 20_000);
    }

    [Fact]
    public async Task A_directory_fsync_that_does_nothing_loses_acknowledged_chunks()
    {
        // Defect 11: the engine's private directory fsync failed silently, so new segments (and the positions file)
        // were never durable in their directory. The simulation must catch that.
        var reports = await RunAsync(firstSeed: 1, runs: 2, crashesPerRun: 50, directorySyncWorks: false);

        Assert.Contains(reports, r => r.Lost.Count > 0);
    }

    [Fact]
    public async Task A_cut_that_falls_in_the_checks_after_a_recovery_is_a_cut_not_a_test_failure()
    {
        // The fresh-clone CI at e988877 failed A_directory_fsync_that_does_nothing_loses_acknowledged_chunks with
        // 'Power lost (simulated)' thrown out of ScrubAsync: the scrub of the checks found a torn chunk and quarantined
        // it (a write), and the cut armed before the recovery fell there. Arrange: a stored chunk torn on the device.
        var files = new MemoryFiles(PowerLossSimulation.Root);
        var options = PowerLossSimulation.Options(files, Path.Combine(_indexRoot, "index-checks"));
        var bytes = PowerLossSimulation.ChunkBytes(3);
        var id = ChunkId.Compute(bytes.Span);
        var engine = ChunkEngine.Open(options);
        await engine.AppendAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, CancellationToken.None);
        var segment = files.ListFiles(PowerLossSimulation.Root + "/segments", string.Empty).Single();
        var at = files.ReadAllBytes(segment)!.AsSpan().IndexOf(bytes.Span) + bytes.Length / 2;
        Assert.True(at > bytes.Length / 2, "the chunk's bytes are not in the segment as written");
        using (var file = files.Open(segment, FileMode.Open))
        {
            file.Write(new[] { (byte)~bytes.Span[bytes.Length / 2] }, at);
        }

        files.CrashAfter(0, new Random(1));

        // Act: the simulation's checks with the cut armed.
        var report = new PowerLossReport(seed: 0);
        var acked = new Dictionary<ChunkId, int> { [id] = 3 };
        var checkedAll = await PowerLossSimulation.TryVerifyAsync(engine, files, acked, new(), report, crash: 0);

        // Assert: the cut is reported as one (the run goes on to the next recovery), and it did happen in the checks.
        Assert.False(checkedAll);
        Assert.True(files.Crashed);
        await engine.AbandonAsync();
    }
}
