using Dropbox.Hosting;
using Dropbox.MetadataNode;
using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tls;
using Dropbox.StorageNode;
using Dropbox.SyncClient.Remote;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dropbox.SyncClient.Tests.Contract;

/// <summary>
/// The metadata contract against the real thing: a metadata node (RocksDB) and a storage node (segments + FASTER) in
/// this process on 127.0.0.1 ephemeral ports, reached through the client's own gRPC remote and chunk transfer.
/// </summary>
public sealed class RealNodeContractTests : MetadataContractTests
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    internal override async Task<ContractTarget> StartAsync(CancellationToken ct)
    {
        var dir = new TempFolder();
        var keys = dir.Sub("keys");
        var quiet = new NodeLogging { MinimumLevel = LogLevel.Warning };
        var metadata = MetadataNodeHost.Build(
            new MetadataNodeOptions { DataDirectory = dir.Sub("metadata"), KeysDirectory = keys, Urls = ["http://127.0.0.1:0"], GcInterval = TimeSpan.Zero },
            quiet.Apply);
        var (_, token) = metadata.Services.GetRequiredService<MetadataStore>().AddUser("alice");
        await metadata.StartAsync(ct);
        var url = MetadataNodeHost.BoundUrls(metadata)[0];
        var storage = StorageNodeHost.Build(
            new StorageNodeOptions
            {
                DataDirectory = dir.Sub("storage"),
                KeysDirectory = keys,
                GrpcUrl = "http://127.0.0.1:0",
                HttpUrl = "http://127.0.0.1:0",
                MetadataUrl = url,
                NodeId = "storage-1",
            },
            quiet.Apply);
        await storage.StartAsync(ct);

        var channels = new ChannelCache(ServerTrust.System);
        var remote = new GrpcMetadataRemote(channels, url, token);
        await WaitForStorageAsync(remote, ct);
        return new ContractTarget(remote, new GrpcChunkTransfer(channels), async () =>
        {
            channels.Dispose();
            await StopAsync(storage);
            await StopAsync(metadata);
            dir.Dispose();
        });
    }

    private static async Task StopAsync(WebApplication app)
    {
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await app.StopAsync(grace.Token);
        await app.DisposeAsync();
    }

    /// <summary>Until the storage node has registered, a plan names no node (or the node answers Unavailable).</summary>
    private static async Task WaitForStorageAsync(IMetadataRemote remote, CancellationToken ct)
    {
        var probe = new byte[] { 1, 2, 3 };
        var request = new PlanUploadRequest { Path = "probe", Size = 3 };
        request.Chunks.Add(new Shared.Protos.Common.ChunkRef { Id = ChunkId.Compute(probe).ToByteString(), Size = 3, StoredSize = 3 });
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ReadyTimeout);
        while (true)
        {
            try
            {
                var plan = await remote.PlanUploadAsync(request, timeout.Token);
                if (plan.Missing.Count == 1 && plan.Missing[0].Node.GrpcUrl.Length > 0)
                {
                    return;
                }
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.Unavailable or ErrorKind.ResourceExhausted)
            {
            }

            await Task.Delay(50, timeout.Token);
        }
    }
}
