using System.Security.Cryptography;
using Dropbox.IntegrationTests.Client;
using Dropbox.IntegrationTests.Observability;
using Dropbox.Shared.Tls;

namespace Dropbox.IntegrationTests.Docker;

/// <summary>
/// docker/compose.yaml itself, run: every service with the command line, environment, volumes and ports the file
/// gives it (advertise URLs included), through the images' entrypoint, as processes on 127.0.0.1 (see
/// <see cref="ComposeTopology"/>). A change to the compose file that breaks the deployment fails here.
/// </summary>
public sealed class ComposeTopologyTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_compose_file_reads_as_one_metadata_node_three_storage_nodes_and_a_tls_init_step_all_needing_PUBLIC_HOST()
    {
        // Act
        var services = ComposeFile.Read(ComposeFile.DefaultPath, new Dictionary<string, string> { ["PUBLIC_HOST"] = "files.example.lan" });
        var unset = Assert.Throws<InvalidOperationException>(() => ComposeFile.Read(ComposeFile.DefaultPath, new Dictionary<string, string>()));

        // Assert
        Assert.Equal(["tls-init", "metadata", "storage1", "storage2", "storage3"], services.Select(s => s.Name));
        Assert.All(services.Where(s => s.Name.StartsWith("storage", StringComparison.Ordinal)), s =>
        {
            Assert.Equal("docker/Dockerfile.storage", s.Dockerfile);
            Assert.Equal("files.example.lan", s.Environment["PUBLIC_HOST"]);
            Assert.Contains(s.Command!, a => a.StartsWith("https://files.example.lan:", StringComparison.Ordinal));
        });
        Assert.Contains("PUBLIC_HOST is required", unset.Message, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task The_compose_services_run_with_the_files_own_command_lines_and_a_client_syncs_a_file_through_them()
    {
        // Arrange: the nodes as `dotnet build` made them (the entrypoint runs them with dotnet).
        using var topology = await ComposeTopology.StartAsync(_dir, image => image.Entrypoint[1] switch
        {
            "Dropbox.MetadataNode" => Path.GetDirectoryName(Binaries.MetadataNode)!,
            "Dropbox.StorageNode" => Path.GetDirectoryName(Binaries.StorageNode)!,
            var other => throw new InvalidOperationException($"no built app for {other}"),
        });

        // Act and assert
        await AFileSyncsBetweenTwoClientsAsync(topology, _dir);
    }

    /// <summary>
    /// Two clients log in as alice with the CA the compose file's header hands out; one uploads a file of several chunks,
    /// the other downloads it (through the advertised storage URLs); every chunk got the file's replication factor.
    /// </summary>
    internal static async Task AFileSyncsBetweenTwoClientsAsync(ComposeTopology topology, TempFolder dir)
    {
        var alpha = new ClientProcess(topology, "alpha", dir.CreateSub("alpha-folder"), dir.CreateSub("alpha-state"));
        var beta = new ClientProcess(topology, "beta", dir.CreateSub("beta-folder"), dir.CreateSub("beta-state"));
        await alpha.LoginAsync();
        await beta.LoginAsync();
        var content = RandomNumberGenerator.GetBytes(6 * 1024 * 1024);
        alpha.Write("report.bin", content);

        var up = await alpha.SyncAsync();
        var down = await beta.SyncAsync();

        Assert.StartsWith("https://127.0.0.1:", topology.MetadataUrl, StringComparison.Ordinal);
        Assert.Equal(1, up.FilesUploaded);
        Assert.Equal(1, down.FilesDownloaded);
        Assert.Equal(content, File.ReadAllBytes(beta.PathOf("report.bin")));

        // The metadata service's --replication (2 in the file): each chunk of the file is held by exactly that many
        // storage nodes (a flag the node did not take would leave its default of 1).
        var command = topology.Services.Single(s => s.Name == "metadata").Command!;
        var flag = Array.IndexOf(command, "--replication");
        Assert.True(flag >= 0, "compose.yaml's metadata service sets no --replication");
        var replication = int.Parse(command[flag + 1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(down.ChunksDownloaded >= 2, $"{down.ChunksDownloaded} chunks");
        using var http = new HttpClient(ServerTrust.ForCaFile(topology.CaFile!, "the compose CA").CreateHandler()) { Timeout = TimeSpan.FromSeconds(30) };
        double held = 0;
        foreach (var storage in topology.ServicesOf("Dockerfile.storage"))
        {
            held += (await PrometheusText.ScrapeAsync(http, $"https://127.0.0.1:{topology.PortOf(storage.Name, 5083)}/metrics")).Single("dropbox_storage_chunks");
        }

        var metadata = await PrometheusText.ScrapeAsync(http, topology.MetadataMetricsUrl);
        Assert.True(replication >= 2, $"compose.yaml's metadata service runs with --replication {replication}");
        Assert.True(held == replication * down.ChunksDownloaded, $"{held} chunk copies held for {down.ChunksDownloaded} chunks, replication {replication}\n{topology.Logs}");
        Assert.Equal(0, metadata.Single("dropbox_chunks_under_replicated"));
    }
}
