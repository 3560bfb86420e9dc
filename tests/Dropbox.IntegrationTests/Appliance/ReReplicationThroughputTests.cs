using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Dropbox.IntegrationTests.Client;
using Xunit.Abstractions;

namespace Dropbox.IntegrationTests.Appliance;

/// <summary>
/// Re-replication throughput, measured: three storage nodes, R=2, a data set uploaded whole, then one node SIGKILLed;
/// the time from its death being declared to the gauge reading 0, the MB copied (from the metadata node's pass log
/// lines), and the CPU seconds the surviving processes spent per MiB copied. Prints, asserts only that it finished
/// and lost nothing (timings are never asserted).
/// </summary>
[Trait("Category", "Long")]
public sealed partial class ReReplicationThroughputTests : IDisposable
{
    private static readonly TimeSpan Bounded = TimeSpan.FromMinutes(10);
    private readonly TempFolder _dir = new();
    private readonly ITestOutputHelper _output;

    public ReReplicationThroughputTests(ITestOutputHelper output)
    {
        _output = output;
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Re_replication_after_a_node_loss_restores_two_copies_and_reports_its_throughput()
    {
        var megabytes = int.TryParse(Environment.GetEnvironmentVariable("DROPBOX_REREPLICATION_MIB"), out var m) ? m : 256;
        using var app = await StandaloneNodes.StartAsync(_dir, nodes: 3, replicas: 2, deadAfterSeconds: 5, logLevel: "information");
        var alpha = await app.LoginAsync("alpha");
        var content = RandomNumberGenerator.GetBytes(megabytes << 20);
        await File.WriteAllBytesAsync(Path.Combine(alpha.Folder, "data.bin"), content);
        using (var up = StandaloneNodes.StartClient(alpha.State, "sync", "--once"))
        {
            await StandaloneNodes.ExpectSuccessAsync(up, "sync");
        }

        var survivors = new[] { app.Process.Id, app.StorageNodes[1].Pid, app.StorageNodes[2].Pid };
        var cpuBefore = survivors.Sum(CpuSeconds);
        var passesBefore = ReplicationPass().Matches(app.Process.Stdout).Count;
        var clock = Stopwatch.StartNew();
        app.KillStorageNode(0);
        await StandaloneNodes.WaitUntilAsync(async () =>
        {
            var metrics = await app.MetadataMetricsAsync();
            return metrics.Sum("dropbox_storage_nodes", ("state", "live")) == 2 && metrics.Single("dropbox_chunks_under_replicated") == 0 && metrics.Single("dropbox_replication_chunks_copied_total") > 0;
        }, Bounded, () => app.Process.Stdout[^Math.Min(4000, app.Process.Stdout.Length)..]);
        var wall = clock.Elapsed;
        var cpu = survivors.Sum(CpuSeconds) - cpuBefore;

        var passes = ReplicationPass().Matches(app.Process.Stdout).Skip(passesBefore).ToList();
        var mb = passes.Sum(p => double.Parse(p.Groups["mb"].Value, CultureInfo.InvariantCulture));
        var seconds = passes.Sum(p => double.Parse(p.Groups["s"].Value, CultureInfo.InvariantCulture));
        foreach (var p in passes)
        {
            _output.WriteLine(p.Value);
        }

        _output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"data set {megabytes} MiB, R=2, 3 nodes -> 2: copied {mb:0.0} MB in {seconds:0.00} s of passes = {mb / seconds:0.0} MB/s; kill to gauge 0: {wall.TotalSeconds:0.0} s (includes --node-dead-after 5 s); CPU of metadata + 2 storage processes: {cpu:0.00} s = {cpu / (mb / 1.048576):0.000} s/MiB"));

        // Nothing lost: a new client reads every byte from the two nodes left.
        var beta = await app.LoginAsync("beta");
        using (var down = StandaloneNodes.StartClient(beta.State, "sync", "--once"))
        {
            await StandaloneNodes.ExpectSuccessAsync(down, "sync");
        }

        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(beta.Folder, "data.bin")));
    }

    /// <summary>User + system CPU seconds of a process so far (/proc/PID/stat, clock ticks of 1/100 s).</summary>
    private static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    [GeneratedRegex(@"Re-replication: copied (?<n>\d+) chunks \((?<mb>[\d.]+) MB\) in (?<s>[\d.]+) s = [\d.]+ MB/s[^\n]*")]
    private static partial Regex ReplicationPass();
}
