using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Backups;
using Dropbox.Shared.IO;
using Grpc.Core;

namespace Dropbox.MetadataNode.Tests.Backups;

/// <summary>Retention (<c>backup --keep N</c>) over real storage nodes on 127.0.0.1: metadata folders and storage parts.</summary>
public sealed class BackupRetentionTests
{
    [Fact]
    public async Task Keep_n_keeps_the_newest_n_complete_backups_removes_older_and_incomplete_ones_everywhere_and_never_the_one_just_made()
    {
        // Arrange: complete A and B, incomplete C (storage-2 failed, storage-1 wrote its part), and an old failed
        // backup's leftover with no manifest, on the metadata node and on storage-1.
        await using var cluster = await BackupCluster.StartAsync(nodes: 2);
        var failing = new FailingNode(cluster.Gateway, "storage-2");
        var a = await cluster.Backup().RunAsync(CancellationToken.None);
        var b = await cluster.Backup().RunAsync(CancellationToken.None);
        var c = await cluster.Backup(failing).RunAsync(CancellationToken.None);
        Assert.True(a.Complete && b.Complete && !c.Complete);
        const string leftover = "20200101T000000Z";
        Directory.CreateDirectory(Path.Combine(cluster.Options.BackupFolder, leftover, "db"));
        Directory.CreateDirectory(Path.Combine(cluster.NodeBackupFolders["storage-1"], leftover, "storage-1", "segments"));
        await File.WriteAllTextAsync(Path.Combine(cluster.NodeBackupFolders["storage-1"], leftover, "storage-1", "node-id"), "storage-1\n");
        var unrelated = Directory.CreateDirectory(Path.Combine(cluster.Options.BackupFolder, "not-a-backup")).FullName;

        // Act: D with --keep 2.
        var d = await cluster.Backup().RunAsync(keep: 2, CancellationToken.None);

        // Assert: D and B stay everywhere; A, C and the leftover are gone everywhere; other folders are not touched.
        Assert.True(d.Complete);
        Assert.Equal([leftover, a.Name, c.Name], d.Removed);
        Assert.Equal(Sorted(b.Name, d.Name, "not-a-backup"), Entries(cluster.Options.BackupFolder));
        foreach (var folder in cluster.NodeBackupFolders.Values)
        {
            Assert.Equal(Sorted(b.Name, d.Name), Entries(folder));
        }

        Assert.True(Directory.Exists(unrelated));

        // Act: an incomplete E with --keep 1: it does not count, so D (the newest complete) stays; B goes; E stays.
        var e = await cluster.Backup(failing).RunAsync(keep: 1, CancellationToken.None);

        Assert.False(e.Complete);
        Assert.Equal([b.Name], e.Removed);
        Assert.Equal(Sorted(d.Name, e.Name, "not-a-backup"), Entries(cluster.Options.BackupFolder));
        Assert.Equal(Sorted(d.Name, e.Name), Entries(cluster.NodeBackupFolders["storage-1"]));
        Assert.Equal([d.Name], Entries(cluster.NodeBackupFolders["storage-2"]));
        Assert.True(File.Exists(Path.Combine(cluster.Options.BackupFolder, d.Name, OnlineBackup.ManifestFile)));
    }

    [Fact]
    public async Task Keep_leaves_alone_a_backup_whose_manifest_cannot_be_parsed_and_a_backup_named_link()
    {
        // Arrange: complete A whose manifest is damaged, complete B, and a backup-named link to an archived copy.
        await using var cluster = await BackupCluster.StartAsync(nodes: 1);
        var a = await cluster.Backup().RunAsync(CancellationToken.None);
        var b = await cluster.Backup().RunAsync(CancellationToken.None);
        await File.WriteAllTextAsync(Path.Combine(cluster.Options.BackupFolder, a.Name, OnlineBackup.ManifestFile), "{ \"complete\": tr");
        var archive = Directory.CreateDirectory(Path.Combine(Path.GetDirectoryName(cluster.Options.BackupFolder)!, "archive")).FullName;
        File.Copy(Path.Combine(cluster.Options.BackupFolder, b.Name, OnlineBackup.ManifestFile), Path.Combine(archive, OnlineBackup.ManifestFile));
        Directory.CreateSymbolicLink(Path.Combine(cluster.Options.BackupFolder, "20200101T000000Z"), archive);

        // Act: C with --keep 1.
        var c = await cluster.Backup().RunAsync(keep: 1, CancellationToken.None);

        // Assert: B (complete, older) goes; A (unreadable) and the link stay, with the archive's manifest.
        Assert.True(c.Complete);
        Assert.Equal([b.Name], c.Removed);
        Assert.Equal(Sorted("20200101T000000Z", a.Name, c.Name), Entries(cluster.Options.BackupFolder));
        Assert.True(File.Exists(Path.Combine(archive, OnlineBackup.ManifestFile)));
        Assert.Contains(a.Name, Entries(cluster.NodeBackupFolders["storage-1"]));
    }

    [Fact]
    public void Backup_names_order_by_start_then_by_their_number()
    {
        string[] names = ["20261201T224501Z-10", "20261201T224502Z", "20261201T224501Z", "20261201T224501Z-2"];

        Assert.Equal(["20261201T224501Z", "20261201T224501Z-2", "20261201T224501Z-10", "20261201T224502Z"], names.Order(Comparer<string>.Create(BackupName.Compare)));
    }

    private static string[] Sorted(params string[] names) => [.. names.Order(StringComparer.Ordinal)];

    private static string[] Entries(string folder) => [.. Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    /// <summary>The real gateway, but <c>nodeId</c>'s snapshot fails (after writing nothing).</summary>
    private sealed class FailingNode(IStoreSnapshotGateway inner, string nodeId) : IStoreSnapshotGateway
    {
        public Task<NodeSnapshot> SnapshotAsync(StorageNodeInfo node, string backupName, TimeSpan holdWait, CancellationToken cancellationToken) =>
            node.NodeId == nodeId
                ? throw new RpcException(new Status(StatusCode.Unavailable, "disk on fire"))
                : inner.SnapshotAsync(node, backupName, holdWait, cancellationToken);

        public Task<bool> DeleteSnapshotAsync(StorageNodeInfo node, string backupName, CancellationToken cancellationToken) =>
            inner.DeleteSnapshotAsync(node, backupName, cancellationToken);
    }
}
