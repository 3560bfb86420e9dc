using System.Security.Cryptography;
using Dropbox.IntegrationTests.Observability;

namespace Dropbox.IntegrationTests.Client;

/// <summary>
/// Small files uploaded in groups (PlanUploads, shared puts, CommitFiles) while one of two storage nodes is down and not
/// yet declared dead: the client remembers the node and plans the group again around it.
/// </summary>
[Trait("Category", "Slow")]
public sealed class SmallFileFailoverTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_group_of_small_files_whose_plan_names_a_down_node_is_planned_again_around_it_not_file_by_file()
    {
        // Arrange: two storage nodes, one replica; node 2 is killed, and the metadata node still places on it (it is
        // declared dead only after 35 s of silence).
        using var cluster = await ClientCluster.StartAsync(_dir, storageNodes: 2, replication: 1);
        var alpha = cluster.NewClient("alpha");
        await alpha.LoginAsync();
        for (var i = 0; i < 40; i++)
        {
            alpha.Write($"small/{i}.txt", RandomNumberGenerator.GetBytes(2000)); // 40 chunks: rendezvous hashing puts about half on node 2

            // Settled (older than the pass's 2 s stable age), so all 40 go in one group: a file the scan found younger
            // waits and goes up in a group of its own, alone (CI failed once so: 39 files settled by the time the
            // slower client scanned, one not).
            File.SetLastWriteTimeUtc(alpha.PathOf($"small/{i}.txt"), DateTime.UtcNow.AddMinutes(-1));
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var before = OneFilePlans(await PrometheusText.ScrapeAsync(http, cluster.MetadataMetricsUrl!));
        cluster.KillStorageNode(2);

        // Act
        var run = await alpha.RunAsync("sync", "--once", "--json");
        var up = run.Json ?? throw new InvalidOperationException($"no JSON summary: {run}");

        // Assert: every file went up through the batched path: no one-file plan was made (without the avoid list each
        // file fell back to a one-file plan (PlanChunks, or PlanUpload), and waited out the 35 s until node 2 was declared dead).
        var after = await PrometheusText.ScrapeAsync(http, cluster.MetadataMetricsUrl!);
        Assert.True(run.ExitCode == 0 && up.FilesUploaded == 40 && up.Errors == 0, $"{up.FilesUploaded} files uploaded, {up.Errors} errors: {run}\n{cluster.Logs}");
        Assert.True(OneFilePlans(after) == before, $"{OneFilePlans(after) - before} one-file plans; the client said:\n{run.Stderr}\n{after.Text}");
    }

    private static double OneFilePlans(PrometheusText metrics) =>
        metrics.Samples.Where(s => s.Name == "dropbox_grpc_server_handled_total" && s.Labels.TryGetValue("method", out var m) && (m.EndsWith("/PlanUpload", StringComparison.Ordinal) || m.EndsWith("/PlanChunks", StringComparison.Ordinal))).Sum(s => s.Value);
}
