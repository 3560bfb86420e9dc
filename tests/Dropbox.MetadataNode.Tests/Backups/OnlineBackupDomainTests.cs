using Dropbox.MetadataNode.Domain.Backups;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dropbox.MetadataNode.Tests.Backups;

/// <summary>The online backup over a real store (real RocksDB checkpoint), with storage snapshots answered in-process.</summary>
public sealed class OnlineBackupDomainTests
{
    private static readonly TimeSpan NodeTimeout = TimeSpan.FromMinutes(1);

    private static StoreHarness Harness() => new(o => o with { GcGracePeriod = TimeSpan.FromHours(1), NodeTimeout = NodeTimeout, BackupDirectory = null });

    [Fact]
    public async Task A_backup_that_skips_the_only_node_holding_a_referenced_chunk_is_incomplete_and_counts_it()
    {
        // Arrange: a file whose chunk is only on node-a, then node-a goes quiet past the node timeout.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "a.txt", 0, StoreHarness.Chunk(1));
        h.Clock.Advance(NodeTimeout * 2);
        var snapshots = new RecordingSnapshots();
        var backup = new OnlineBackup(h.Store, snapshots, h.Options, NullLogger.Instance);

        // Act
        var report = await backup.RunAsync(CancellationToken.None);

        // Assert: nothing was snapshotted, the chunk is counted missing, the backup is not complete.
        Assert.Empty(snapshots.Asked);
        Assert.Equal([StoreHarness.NodeA], report.SkippedNodes);
        Assert.Equal(1, report.MissingChunks);
        Assert.False(report.Complete);
    }

    [Fact]
    public async Task A_backup_whose_live_nodes_hold_every_referenced_chunk_is_complete()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "a.txt", 0, StoreHarness.Chunk(1), StoreHarness.Chunk(2));
        var snapshots = new RecordingSnapshots();
        var backup = new OnlineBackup(h.Store, snapshots, h.Options, NullLogger.Instance);

        var report = await backup.RunAsync(CancellationToken.None);

        Assert.Equal([StoreHarness.NodeA], snapshots.Asked);
        Assert.Equal(0, report.MissingChunks);
        Assert.True(report.Complete);
    }

    /// <summary>Answers every snapshot request with success and records who was asked.</summary>
    internal sealed class RecordingSnapshots : IStoreSnapshotGateway
    {
        public List<string> Asked { get; } = [];

        public Func<NodeRecord, Task>? Before { get; set; }

        public async Task<NodeSnapshot> SnapshotAsync(NodeRecord node, string backupName, CancellationToken cancellationToken)
        {
            lock (Asked)
            {
                Asked.Add(node.NodeId);
            }

            if (Before is not null)
            {
                await Before(node);
            }

            return new NodeSnapshot(node.NodeId, "/nowhere/" + backupName, 1, 0, 10);
        }
    }
}
