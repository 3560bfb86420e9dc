using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Backups;
using Grpc.Core;

namespace Dropbox.MetadataNode.Tests.Backups;

/// <summary>A backup that fails, is cancelled or loses a node leaves no storage parts behind: real storage nodes on 127.0.0.1.</summary>
public sealed class BackupPartsCleanupTests
{
    [Fact]
    public async Task A_backup_cancelled_after_every_node_wrote_its_part_removes_the_parts_on_every_node()
    {
        // Arrange: two real nodes; the caller goes away once both have written their snapshot.
        await using var cluster = await BackupCluster.StartAsync(nodes: 2);
        using var cancel = new CancellationTokenSource();
        var written = 0;
        var gateway = new AfterSnapshot(cluster.Gateway, _ =>
        {
            if (Interlocked.Increment(ref written) == 2)
            {
                cancel.Cancel();
            }

            return Task.CompletedTask;
        });

        // Act
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cluster.Backup(gateway).RunAsync(cancel.Token).WaitAsync(TimeSpan.FromSeconds(60)));

        // Assert: both parts had been written, and none is left on either node (nor the metadata folder).
        Assert.Equal(2, written);
        foreach (var folder in cluster.NodeBackupFolders.Values)
        {
            Assert.Empty(Directory.Exists(folder) ? Directory.GetFileSystemEntries(folder) : []);
        }

        Assert.Empty(Directory.GetFileSystemEntries(cluster.Options.BackupFolder));
    }

    [Fact]
    public async Task An_incomplete_backup_removes_the_part_a_failed_node_wrote_and_keeps_the_others()
    {
        // Arrange: storage-2 writes its part, then its answer is lost (the metadata node counts it failed).
        await using var cluster = await BackupCluster.StartAsync(nodes: 2);
        var gateway = new AfterSnapshot(cluster.Gateway, node =>
            node.NodeId == "storage-2" ? throw new RpcException(new Status(StatusCode.Unavailable, "connection reset")) : Task.CompletedTask);

        // Act
        var report = await cluster.Backup(gateway).RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        // Assert: incomplete; storage-1's part is whole where the report says, storage-2 has none.
        Assert.False(report.Complete);
        var good = report.Nodes.Single(n => n.NodeId == "storage-1");
        Assert.True(Directory.Exists(Path.Combine(good.Path, "segments")));
        Assert.False(Directory.Exists(Path.Combine(cluster.NodeBackupFolders["storage-2"], report.Name)));
    }

    [Fact]
    public async Task A_cancelled_backup_whose_part_a_node_could_not_remove_keeps_its_folder_and_a_later_keep_removes_it()
    {
        // Arrange: both nodes write their part, the caller goes away, and storage-2 cannot be reached to remove its part.
        await using var cluster = await BackupCluster.StartAsync(nodes: 2);
        using var cancel = new CancellationTokenSource();
        var written = 0;
        var unreachable = new AfterSnapshot(cluster.Gateway, _ =>
        {
            if (Interlocked.Increment(ref written) == 2)
            {
                cancel.Cancel();
            }

            return Task.CompletedTask;
        }, failDeleteOn: "storage-2");

        // Act
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cluster.Backup(unreachable).RunAsync(cancel.Token).WaitAsync(TimeSpan.FromSeconds(60)));

        // Assert: the metadata folder stays (no manifest: not a backup), as the record of storage-2's orphaned part.
        var name = Assert.Single(new DirectoryInfo(cluster.Options.BackupFolder).GetDirectories()).Name;
        Assert.False(File.Exists(Path.Combine(cluster.Options.BackupFolder, name, OnlineBackup.ManifestFile)));
        Assert.True(Directory.Exists(Path.Combine(cluster.NodeBackupFolders["storage-2"], name)));
        Assert.False(Directory.Exists(Path.Combine(cluster.NodeBackupFolders["storage-1"], name)));

        // Act: a later backup with --keep 1, storage-2 reachable again.
        var later = await cluster.Backup().RunAsync(keep: 1, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        // Assert: the leftover is gone everywhere.
        Assert.Equal([name], later.Removed);
        Assert.False(Directory.Exists(Path.Combine(cluster.NodeBackupFolders["storage-2"], name)));
        Assert.False(Directory.Exists(Path.Combine(cluster.Options.BackupFolder, name)));
    }

    /// <summary>The real gateway, with <c>after</c> run once a node's snapshot succeeded (it may throw to fail that node).</summary>
    private sealed class AfterSnapshot(IStoreSnapshotGateway inner, Func<StorageNodeInfo, Task> after, string? failDeleteOn = null) : IStoreSnapshotGateway
    {
        public async Task<NodeSnapshot> SnapshotAsync(StorageNodeInfo node, string backupName, TimeSpan holdWait, CancellationToken cancellationToken)
        {
            var snapshot = await inner.SnapshotAsync(node, backupName, holdWait, cancellationToken);
            await after(node);
            return snapshot;
        }

        public Task<bool> DeleteSnapshotAsync(StorageNodeInfo node, string backupName, CancellationToken cancellationToken) =>
            node.NodeId == failDeleteOn
                ? throw new RpcException(new Status(StatusCode.Unavailable, "no route to host"))
                : inner.DeleteSnapshotAsync(node, backupName, cancellationToken);
    }
}
