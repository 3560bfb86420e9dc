using Dropbox.Shared.Channels;
using System.Collections.Concurrent;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tls;
using Dropbox.SyncClient.Remote;

namespace Dropbox.IntegrationTests.Client.Hostile;

/// <summary>The client's batch plan against an older metadata node that has PlanUpload but not PlanUploads.</summary>
public sealed class OldServerPlanTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Against_a_server_without_PlanUploads_each_file_is_planned_alone_and_the_batch_call_is_tried_once_per_session()
    {
        await using var server = await HostileServer.StartAsync();
        var asked = new ConcurrentQueue<string>();
        server.World.PlanUpload = r =>
        {
            asked.Enqueue(r.Path);
            return r.Path == "over.bin"
                ? throw new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.ResourceExhausted, "Over quota: 'over.bin'"))
                : new PlanUploadResponse { CurrentVersion = (ulong)r.Path.Length };
        };
        using var channels = ClientChannels.Create(ServerTrust.System);
        var remote = new GrpcMetadataRemote(channels, server.MetadataUrl, "any");

        var first = await remote.PlanUploadsAsync(Files("a.bin", "bb.bin"), CancellationToken.None).WaitAsync(Timeout);
        var second = await remote.PlanUploadsAsync(Files("ccc.bin", "dddd.bin", "eeeee.bin"), CancellationToken.None).WaitAsync(Timeout);

        // Each answer in the request's order, from one PlanUpload per file; PlanUploads was asked once only.
        Assert.Equal([5UL, 6UL], first.Results.Select(r => r.CurrentVersion));
        Assert.Equal([7UL, 8UL, 9UL], second.Results.Select(r => r.CurrentVersion));
        Assert.Equal(["a.bin", "bb.bin", "ccc.bin", "dddd.bin", "eeeee.bin"], asked);
        Assert.Equal(1, server.World.PlanUploadsCalls);

        // A file the server refuses fails the whole batch with that file's own error, as PlanUploads would.
        var refused = await Assert.ThrowsAsync<DropboxException>(() => remote.PlanUploadsAsync(Files("a.bin", "over.bin"), CancellationToken.None).WaitAsync(Timeout));
        Assert.Equal(ErrorKind.ResourceExhausted, refused.Kind);
        Assert.Contains("Over quota: 'over.bin'", refused.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.World.PlanUploadsCalls);
    }

    private static PlanUploadsRequest Files(params string[] paths)
    {
        var request = new PlanUploadsRequest();
        request.Files.AddRange(paths.Select(p => new PlanUploadRequest { Path = p, Size = 0 }));
        return request;
    }
}
