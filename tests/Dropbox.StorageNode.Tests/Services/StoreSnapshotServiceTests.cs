using Dropbox.Shared.Protos.Storage;
using Grpc.Core;
using Grpc.Net.Client;

namespace Dropbox.StorageNode.Tests.Services;

/// <summary>The storage node's snapshot call for online backups, on a real node over Kestrel.</summary>
public sealed class StoreSnapshotServiceTests : IAsyncLifetime
{
    private NodeFixture _node = null!;
    private GrpcChannel _channel = null!;

    public async Task InitializeAsync()
    {
        _node = await NodeFixture.StartAsync();
        _channel = GrpcChannel.ForAddress(_node.GrpcUrl);
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _node.DisposeAsync();
    }

    [Fact]
    public async Task A_snapshot_needs_the_node_token_and_a_backup_name_and_goes_under_the_node_backup_folder()
    {
        var chunk = TestChunks.Random(1000, 21);
        await _node.PutRawAsync(chunk);
        var client = new StoreSnapshots.StoreSnapshotsClient(_channel);
        Task<SnapshotStoreResponse> Call(string token, string name) => client.SnapshotStoreAsync(new SnapshotStoreRequest { Token = token, BackupName = name }).ResponseAsync;

        // Refused: no token, a user's token, and a name that is a path (nothing written anywhere).
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => Call(string.Empty, "20261201T220000Z"))).StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => Call(_node.GetToken(chunk.Id), "20261201T220000Z"))).StatusCode);
        foreach (var name in new[] { "../../etc", "/tmp/x", "20261201T220000Z/../x", string.Empty })
        {
            var bad = await Assert.ThrowsAsync<RpcException>(() => Call(_node.SystemToken(), name));
            Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        }

        Assert.False(Directory.Exists(_node.Options.BackupFolder));

        // Accepted with the node's own credential: DATA/backups/NAME/<data folder name>, holding the segments.
        var taken = await Call(_node.SystemToken(), "20261201T220000Z");

        Assert.Equal(Path.Combine(_node.Options.BackupFolder, "20261201T220000Z", "data"), taken.Path);
        Assert.Equal(1u, taken.Segments);
        Assert.True(taken.Bytes > 1000, $"{taken.Bytes} bytes");
        Assert.Single(Directory.GetFiles(Path.Combine(taken.Path, "segments")));
        var again = await Assert.ThrowsAsync<RpcException>(() => Call(_node.SystemToken(), "20261201T220000Z"));
        Assert.Equal(StatusCode.AlreadyExists, again.StatusCode);
    }
}
