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

    [Theory]
    [InlineData(86_401u)]
    [InlineData(uint.MaxValue)]
    public async Task A_hold_wait_over_a_day_is_refused_and_nothing_is_written(uint seconds)
    {
        var client = new StoreSnapshots.StoreSnapshotsClient(_channel);

        var refused = await Assert.ThrowsAsync<RpcException>(() => client.SnapshotStoreAsync(
            new SnapshotStoreRequest { Token = _node.SystemToken(), BackupName = "20261201T220000Z", HoldWaitSeconds = seconds }).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("hold_wait_seconds", refused.Status.Detail, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_node.Options.BackupFolder));
    }

    [Fact]
    public async Task Deleting_a_snapshot_needs_the_node_token_and_a_backup_name_and_removes_only_that_part_of_the_backup_folder()
    {
        await _node.PutRawAsync(TestChunks.Random(1000, 22));
        var client = new StoreSnapshots.StoreSnapshotsClient(_channel);
        var kept = await client.SnapshotStoreAsync(new SnapshotStoreRequest { Token = _node.SystemToken(), BackupName = "20261201T220000Z" });
        await client.SnapshotStoreAsync(new SnapshotStoreRequest { Token = _node.SystemToken(), BackupName = "20261201T230000Z" });
        Task<DeleteSnapshotResponse> Delete(string token, string name) => client.DeleteSnapshotAsync(new DeleteSnapshotRequest { Token = token, BackupName = name }).ResponseAsync;

        // A folder outside the backup folder, and a link inside it that points there: neither may be touched.
        var outside = Path.Combine(Path.GetDirectoryName(_node.Options.BackupFolder)!, "precious");
        Directory.CreateDirectory(outside);
        await File.WriteAllTextAsync(Path.Combine(outside, "keep.txt"), "keep");
        Directory.CreateSymbolicLink(Path.Combine(_node.Options.BackupFolder, "20261201T235959Z"), outside);

        // Refused: no token, a user's token, names that are paths; nothing removed.
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => Delete(string.Empty, "20261201T230000Z"))).StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => Delete(_node.GetToken(TestChunks.Random(10, 1).Id), "20261201T230000Z"))).StatusCode);
        foreach (var name in new[] { "..", "../precious", "/tmp", "20261201T230000Z/..", "20261201T230000Z/data", string.Empty })
        {
            Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => Delete(_node.SystemToken(), name))).StatusCode);
        }

        Assert.Equal(3, Directory.GetFileSystemEntries(_node.Options.BackupFolder).Length);

        // Accepted: that backup's part goes, the other stays; again, or an absent one, is not an error; a link is not this node's part and stays.
        Assert.True((await Delete(_node.SystemToken(), "20261201T230000Z")).Removed);
        Assert.False((await Delete(_node.SystemToken(), "20261201T230000Z")).Removed);
        Assert.False((await Delete(_node.SystemToken(), "20261201T235959Z")).Removed);
        Assert.Equal([Path.Combine(_node.Options.BackupFolder, "20261201T220000Z"), Path.Combine(_node.Options.BackupFolder, "20261201T235959Z")], Directory.GetFileSystemEntries(_node.Options.BackupFolder).Order(StringComparer.Ordinal));
        Assert.True(Directory.Exists(Path.Combine(kept.Path, "segments")));
        Assert.Equal("keep", await File.ReadAllTextAsync(Path.Combine(outside, "keep.txt")));

        // A backup folder this node shares with other parts (standalone: the metadata checkpoint beside it): only this node's part goes.
        var shared = await client.SnapshotStoreAsync(new SnapshotStoreRequest { Token = _node.SystemToken(), BackupName = "20261202T010000Z" });
        var metadata = Directory.CreateDirectory(Path.Combine(_node.Options.BackupFolder, "20261202T010000Z", "metadata")).FullName;
        Assert.True((await Delete(_node.SystemToken(), "20261202T010000Z")).Removed);
        Assert.False(Directory.Exists(shared.Path));
        Assert.True(Directory.Exists(metadata));
    }

    [Fact]
    public async Task Deleting_a_snapshot_in_a_shared_backup_folder_leaves_a_part_another_node_or_the_metadata_node_wrote()
    {
        var client = new StoreSnapshots.StoreSnapshotsClient(_channel);
        Task<DeleteSnapshotResponse> Delete(string name) => client.DeleteSnapshotAsync(new DeleteSnapshotRequest { Token = _node.SystemToken(), BackupName = name }).ResponseAsync;

        // One backup disk for all: the metadata node's checkpoint (no node-id) sits where this node's part would go, and
        // this node's snapshot fails AlreadyExists; the metadata node then asks it to remove "its" part.
        var checkpoint = Directory.CreateDirectory(Path.Combine(_node.Options.BackupFolder, "20261202T020000Z", "data")).FullName;
        await File.WriteAllTextAsync(Path.Combine(checkpoint, "CURRENT"), "MANIFEST-000001\n");
        var failed = await Assert.ThrowsAsync<RpcException>(() => client.SnapshotStoreAsync(new SnapshotStoreRequest { Token = _node.SystemToken(), BackupName = "20261202T020000Z" }).ResponseAsync);
        Assert.Equal(StatusCode.AlreadyExists, failed.StatusCode);
        Assert.False((await Delete("20261202T020000Z")).Removed);
        Assert.True(File.Exists(Path.Combine(checkpoint, "CURRENT")));

        // Another storage node's finished part (its node-id) and a .partial this process did not create: both stay.
        var other = Directory.CreateDirectory(Path.Combine(_node.Options.BackupFolder, "20261202T030000Z", "data")).FullName;
        await File.WriteAllTextAsync(Path.Combine(other, "node-id"), "someone-else\n");
        var partial = Directory.CreateDirectory(Path.Combine(_node.Options.BackupFolder, "20261202T040000Z", "data.partial")).FullName;
        Assert.False((await Delete("20261202T030000Z")).Removed);
        Assert.False((await Delete("20261202T040000Z")).Removed);
        Assert.True(File.Exists(Path.Combine(other, "node-id")));
        Assert.True(Directory.Exists(partial));
    }
}
