using System.Security.Cryptography;
using Dropbox.IntegrationTests.Client;
using Dropbox.MetadataNode;
using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Tls;
using Dropbox.StorageNode;
using Dropbox.StorageNode.Store;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.IntegrationTests.Tls;

/// <summary>
/// A metadata node and a storage node whose certificates come from two different CAs, each node trusting the
/// other's CA (given as <c>NodeTrust</c>/<c>MetadataTrust</c>, what <c>--tls-ca</c> sets). A real client process that
/// trusts only the metadata node's CA logs in fine but must refuse the storage node, every channel being checked.
/// </summary>
[Trait("Category", "Slow")]
public sealed class MixedTrustTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_client_that_trusts_the_metadata_nodes_ca_but_not_the_storage_nodes_refuses_the_storage_node_and_uploads_nothing()
    {
        // Arrange: CA "meta" for the metadata node, CA "store" for the storage node; TLS on both, node to node too.
        var meta = LocalCertificateAuthority.Ensure(_dir.CreateSub("ca-meta"), ["127.0.0.1"]);
        var store = LocalCertificateAuthority.Ensure(_dir.CreateSub("ca-store"), ["127.0.0.1"]);
        var keys = _dir.CreateSub("keys");
        await using var metadata = MetadataNodeHost.Build(
            new MetadataNodeOptions
            {
                DataDirectory = _dir.CreateSub("metadata"),
                KeysDirectory = keys,
                Urls = ["https://127.0.0.1:0"],
                TlsCertificate = meta.ServerCertificate,
                NodeTrust = ServerTrust.ForCaFile(store.CaCertificatePath, "--tls-ca"),
                SyncWrites = false,
            },
            logging => logging.SetMinimumLevel(LogLevel.Warning));
        var metadataStore = metadata.Services.GetRequiredService<MetadataStore>();
        var (user, token) = metadataStore.AddUser("alice");
        await metadata.StartAsync();
        var metadataUrl = MetadataNodeHost.BoundUrls(metadata).Single();
        await using var storage = StorageNodeHost.Build(
            new StorageNodeOptions
            {
                DataDirectory = _dir.CreateSub("storage"),
                KeysDirectory = keys,
                GrpcUrl = "https://127.0.0.1:0",
                MetadataUrl = metadataUrl,
                NodeId = "storage-b",
                TlsCertificate = store.ServerCertificate,
                MetadataTrust = ServerTrust.ForCaFile(meta.CaCertificatePath, "--tls-ca"),
                IndexSizeBytes = 1L << 16,
                IndexMemoryBytes = 1L << 22,
                MaxRetryDelay = TimeSpan.FromMilliseconds(200),
            },
            logging => logging.SetMinimumLevel(LogLevel.Warning));
        await storage.StartAsync();
        await WaitUntilAsync(() => metadataStore.LiveNodes().Count == 1, "the storage node registers over TLS");
        var content = RandomNumberGenerator.GetBytes(300_000);

        // Act: a client trusting only the metadata node's CA.
        var narrow = await LoginAsync("narrow", metadataUrl, token, meta.CaCertificatePath);
        await File.WriteAllBytesAsync(Path.Combine(narrow.Folder, "secret.bin"), content);
        var refused = await RunClientAsync(narrow.State, "sync", "--once", "--stable-age", "0");

        // Assert: refused with both fingerprints named; nothing reached the storage node or the file list.
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains(store.ServerFingerprint, refused.Output, StringComparison.Ordinal);
        Assert.Contains(meta.CaFingerprint, refused.Output, StringComparison.Ordinal);
        Assert.Equal(0, storage.Services.GetRequiredService<ChunkStore>().Engine.GetStats().ChunkCount);
        Assert.Empty(metadataStore.ListFiles(user, null, includeDeleted: false).Entries);

        // The same client given both CAs in one --ca bundle uploads, and the node to node calls worked over TLS.
        var bundle = Path.Combine(_dir.Path, "both.pem");
        await File.WriteAllTextAsync(bundle, await File.ReadAllTextAsync(meta.CaCertificatePath) + await File.ReadAllTextAsync(store.CaCertificatePath));
        await LoginAsync("narrow", metadataUrl, token, bundle);
        var ok = await RunClientAsync(narrow.State, "sync", "--once", "--stable-age", "0");
        Assert.True(ok.ExitCode == 0, ok.Output);
        Assert.Equal(1, storage.Services.GetRequiredService<ChunkStore>().Engine.GetStats().ChunkCount);
        Assert.Single(metadataStore.ListFiles(user, null, includeDeleted: false).Entries);

        await storage.StopAsync();
        await metadata.StopAsync();
    }

    private async Task<(string Folder, string State)> LoginAsync(string name, string url, string token, string ca)
    {
        var folder = _dir.CreateSub(name + "-folder");
        var state = _dir.CreateSub(name + "-state");
        var r = await RunClientAsync(state, "login", "--server", url, "--token", token, "--folder", folder, "--device", name, "--ca", ca);
        Assert.True(r.ExitCode == 0, r.Output);
        return (folder, state);
    }

    private static async Task<(int ExitCode, string Output)> RunClientAsync(string state, params string[] args)
    {
        using var client = ChildProcess.Start(Binaries.SyncClient, [.. args, "--state", state]);
        var code = await client.WaitForExitAsync(ClientProcess.VerbTimeout);
        return (code, $"exit {code}\nstdout:\n{client.Stdout}\nstderr:\n{client.Stderr}");
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }

            await Task.Delay(50);
        }
    }
}
