using Dropbox.Shared.Channels;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tls;
using Dropbox.SyncClient.Remote;

namespace Dropbox.SyncClient.Tests.Contract;

/// <summary>
/// The metadata contract against the real thing: <see cref="RealNodes"/> (a metadata and a storage node on
/// 127.0.0.1), reached through the client's own gRPC remote and chunk transfer.
/// </summary>
public sealed class RealNodeContractTests(RealNodes nodes) : MetadataContractTests, IClassFixture<RealNodes>
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    internal override async Task<ContractTarget> StartAsync(CancellationToken ct)
    {
        var channels = ClientChannels.Create(ServerTrust.System);
        var remote = new GrpcMetadataRemote(channels, nodes.Url, nodes.NewUserToken());
        await WaitForStorageAsync(remote, ct);
        return new ContractTarget(remote, new GrpcChunkTransfer(channels), () =>
        {
            channels.Dispose();
            return ValueTask.CompletedTask;
        });
    }

    /// <summary>Until the storage node has registered, a plan names no node (or the node answers Unavailable).</summary>
    internal static async Task WaitForStorageAsync(IMetadataRemote remote, CancellationToken ct)
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
