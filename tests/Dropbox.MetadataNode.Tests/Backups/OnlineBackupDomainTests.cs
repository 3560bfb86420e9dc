using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Backups;
using Dropbox.Shared.Errors;
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

    [Fact]
    public async Task A_copy_of_a_cleanly_stopped_store_marked_restored_gets_new_epochs_so_old_cursors_are_refused()
    {
        // Arrange: a client's cursor, then the store stopped cleanly (its folder holds the clean-shutdown mark).
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "a.txt", 0, StoreHarness.Chunk(1));
        var cursor = (await h.Store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None)).Cursor;

        // Act: opened as a restore (the marker every online backup carries, and the README's offline restore creates).
        h.Reopen(restored: true);

        // Assert: the cursor is from another epoch (the client lists everything once), the data is there, the marker is gone.
        var stale = await Assert.ThrowsAsync<DropboxException>(() => h.Store.ListChangesAsync(alice, cursor, 0, 0, CancellationToken.None));
        Assert.Equal(ErrorKind.Conflict, stale.Kind);
        Assert.Equal(["a.txt"], h.Store.ListFiles(alice, "", false).Entries.Select(e => e.Path));
        Assert.False(File.Exists(Path.Combine(h.Options.DataDirectory, MetadataStore.RestoredMarker)));
        var fresh = (await h.Store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None)).Cursor;
        h.Reopen();
        Assert.Empty((await h.Store.ListChangesAsync(alice, fresh, 0, 0, CancellationToken.None)).Changes);
    }

    [Fact]
    public async Task A_store_restored_from_an_older_copy_never_hands_out_again_a_version_number_it_issued_before()
    {
        // Arrange: a.txt at its first version, the store copied (the backup), then a second version a client recorded.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var first = await h.PutFileAsync(alice, "a.txt", 0, StoreHarness.Chunk(1));
        var backup = Path.Combine(Path.GetDirectoryName(h.Options.DataDirectory)!, "backup-copy");
        h.Reopen(whileClosed: data => CopyTree(data, backup));
        var recorded = await h.PutFileAsync(alice, "a.txt", first.Entry.Version, StoreHarness.Chunk(2));

        // Act: the copy put back and opened as a restore; another device edits the restored (first) version.
        h.Reopen(restored: true, whileClosed: data =>
        {
            Directory.Delete(data, recursive: true);
            CopyTree(backup, data);
        });
        Register(h);
        var after = await h.PutFileAsync(alice, "a.txt", first.Entry.Version, StoreHarness.Chunk(3));

        // Assert: the new number is past anything issued before the restore (not the recorded one again), the log
        // still reads from the start with nothing skipped, and the store is consistent; so after a second restore.
        Assert.True(after.Entry.Version > recorded.Entry.Version + MetadataStore.EpochJump / 2, $"version {after.Entry.Version} after {recorded.Entry.Version}");
        var log = await h.Store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None);
        Assert.Equal([first.Entry.Version, after.Entry.Version], log.Changes.Select(c => c.Sequence));
        h.AssertConsistent();
        h.Reopen(restored: true);
        h.Reopen(unclean: true);
        Register(h);
        var later = await h.PutFileAsync(alice, "a.txt", after.Entry.Version, StoreHarness.Chunk(4));
        Assert.True(later.Entry.Version > after.Entry.Version + MetadataStore.EpochJump);
        log = await h.Store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None);
        Assert.Equal([first.Entry.Version, after.Entry.Version, later.Entry.Version], log.Changes.Select(c => c.Sequence));
        Assert.Empty((await h.Store.ListChangesAsync(alice, log.Cursor, 0, 0, CancellationToken.None)).Changes);
        h.AssertConsistent();
    }

    private static void Register(StoreHarness h) =>
        h.Store.Nodes.Register(new NodeRegistration(StoreHarness.NodeA, "http://127.0.0.1:1", "http://127.0.0.1:1", 0, 0));

    private static void CopyTree(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        }

        foreach (var folder in Directory.GetDirectories(source))
        {
            CopyTree(folder, Path.Combine(destination, Path.GetFileName(folder)));
        }
    }

    [Fact]
    public async Task A_restored_store_sends_no_delete_to_a_storage_node_until_that_node_registers_with_it_again()
    {
        // Arrange: an uploaded chunk no version references, past the grace period, in a store then restored.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        var orphan = StoreHarness.Chunk(7);
        h.Stored(alice, orphan);
        h.Clock.Advance(TimeSpan.FromHours(2));
        h.Reopen(restored: true);

        // Act: garbage collection runs on the restored store; the node's heartbeat is refused until it registers.
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        var heartbeat = Assert.Throws<DropboxException>(() => h.Heartbeat());

        // Assert: the node (possibly the original's, still in use) was asked for nothing.
        Assert.True(h.Gateway.Holds(StoreHarness.NodeA, orphan.Id));
        Assert.Equal(ErrorKind.NotFound, heartbeat.Kind);
        Assert.Empty(h.Store.Nodes.Require(StoreHarness.NodeA).GrpcUrl);

        // Once the node registers with the restored store, the delete goes through.
        h.Store.Nodes.Register(new NodeRegistration(StoreHarness.NodeA, "http://127.0.0.1:1", "http://127.0.0.1:1", 0, 0));
        await h.Store.RunGcOnceAsync(CancellationToken.None);
        Assert.False(h.Gateway.Holds(StoreHarness.NodeA, orphan.Id));
    }

    [Fact]
    public async Task An_online_backups_metadata_checkpoint_carries_the_restored_marker()
    {
        using var h = Harness();
        h.Store.AddUser("alice");
        var backup = new OnlineBackup(h.Store, new RecordingSnapshots(), h.Options, NullLogger.Instance);

        var report = await backup.RunAsync(CancellationToken.None);

        Assert.True(File.Exists(Path.Combine(report.MetadataPath, MetadataStore.RestoredMarker)));
        Assert.False(File.Exists(Path.Combine(h.Options.DataDirectory, MetadataStore.RestoredMarker)));
    }

    [Fact]
    public async Task A_finished_backup_ends_with_its_manifest_and_a_cancelled_one_leaves_no_folder()
    {
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "a.txt", 0, StoreHarness.Chunk(1));
        var snapshots = new RecordingSnapshots();
        var backup = new OnlineBackup(h.Store, snapshots, h.Options, NullLogger.Instance);

        // A finished backup: the manifest names it and says complete.
        var report = await backup.RunAsync(CancellationToken.None);
        var manifest = await File.ReadAllTextAsync(Path.Combine(h.Options.BackupFolder, report.Name, OnlineBackup.ManifestFile));
        Assert.Contains($"\"name\": \"{report.Name}\"", manifest, StringComparison.Ordinal);
        Assert.Contains("\"complete\": true", manifest, StringComparison.Ordinal);

        // A backup cancelled while a storage node snapshots: its folder (checkpoint and key ring already written) is gone.
        using var cancel = new CancellationTokenSource();
        snapshots.Before = _ =>
        {
            cancel.Cancel();
            cancel.Token.ThrowIfCancellationRequested();
            return Task.CompletedTask;
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => backup.RunAsync(cancel.Token));

        Assert.Equal([report.Name], Directory.GetDirectories(h.Options.BackupFolder).Select(Path.GetFileName));

        // The hold ended with it: garbage collection is not held.
        using var hold = await h.Store.ChunkDeletions.HoldAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_node_that_never_answers_its_snapshot_fails_the_backup_after_the_node_timeout_and_releases_the_deletion_hold()
    {
        // Arrange: the only node hangs on its snapshot (it answers only when the call is cancelled, as gRPC does).
        using var h = new StoreHarness(o => o with { GcGracePeriod = TimeSpan.FromHours(1), NodeTimeout = NodeTimeout, BackupDirectory = null, BackupNodeTimeout = TimeSpan.FromMilliseconds(300) });
        var (alice, _) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "a.txt", 0, StoreHarness.Chunk(1));
        var logger = new ListLogger();
        var backup = new OnlineBackup(h.Store, new HangingSnapshots(), h.Options, logger);

        // Act
        var report = await backup.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        // Assert: incomplete, the node's error names the bound, and deletions are no longer held.
        Assert.False(report.Complete);
        Assert.Contains("--backup-node-timeout", Assert.Single(report.Nodes).Error, StringComparison.Ordinal);
        Assert.Equal(1, report.MissingChunks);
        Assert.False(h.Store.ChunkDeletions.IsHeld);
    }

    [Fact]
    public async Task A_backup_cancelled_by_its_caller_ends_as_a_cancellation_removes_its_folder_and_logs_no_error()
    {
        // Arrange: the node's snapshot is under way when the caller goes away; gRPC then reports a Cancelled status.
        using var h = Harness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "a.txt", 0, StoreHarness.Chunk(1));
        var logger = new ListLogger();
        var snapshots = new HangingSnapshots();
        var backup = new OnlineBackup(h.Store, snapshots, h.Options, logger);
        using var cancel = new CancellationTokenSource();

        // Act
        var running = backup.RunAsync(cancel.Token);
        await snapshots.Asked.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await cancel.CancelAsync();

        // Assert
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Empty(logger.Entries);
        Assert.Empty(Directory.GetDirectories(h.Options.BackupFolder));
        Assert.False(h.Store.ChunkDeletions.IsHeld);
    }

    /// <summary>Never answers a snapshot request; a cancelled call fails as a gRPC call does (a Cancelled status).</summary>
    private sealed class HangingSnapshots : IStoreSnapshotGateway
    {
        public TaskCompletionSource Asked { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<NodeSnapshot> SnapshotAsync(StorageNodeInfo node, string backupName, TimeSpan holdWait, CancellationToken cancellationToken)
        {
            Asked.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                throw new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Cancelled, "Call canceled by the client."));
            }

            throw new InvalidOperationException("unreachable");
        }

        public Task<bool> DeleteSnapshotAsync(StorageNodeInfo node, string backupName, CancellationToken cancellationToken) => Task.FromResult(false);
    }

    /// <summary>Answers every snapshot request with success and records who was asked.</summary>
    internal sealed class RecordingSnapshots : IStoreSnapshotGateway
    {
        public List<string> Asked { get; } = [];

        public Func<StorageNodeInfo, Task>? Before { get; set; }

        public async Task<NodeSnapshot> SnapshotAsync(StorageNodeInfo node, string backupName, TimeSpan holdWait, CancellationToken cancellationToken)
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

        public List<(string NodeId, string Name)> Deleted { get; } = [];

        public Task<bool> DeleteSnapshotAsync(StorageNodeInfo node, string backupName, CancellationToken cancellationToken)
        {
            lock (Asked)
            {
                Deleted.Add((node.NodeId, backupName));
            }

            return Task.FromResult(true);
        }
    }
}
