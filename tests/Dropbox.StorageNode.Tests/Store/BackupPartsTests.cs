using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Store;

/// <summary>
/// A snapshot and a removal of one backup name on one node exclude each other (two finds of the fuzzer, d859c85): a
/// removal that raced the copy could delete the folder under a snapshot that was starting, or leave its part behind.
/// </summary>
public sealed class BackupPartsTests : IDisposable
{
    private const string Name = "20261201T220000Z";
    private static readonly NodeId Node = new("storage-x");
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private static ChunkEngine OpenEngine(string directory) => ChunkEngine.Open(StoreSnapshotTests.Options(directory));

    [Fact]
    public async Task A_removal_waits_for_the_snapshot_of_the_same_name_running_on_the_node_and_then_removes_its_part()
    {
        // Arrange: a real engine with a chunk, its segments held (as a compaction pass would), so the snapshot that
        // starts is deterministically under way (it holds the name and waits for the segments) when the removal arrives.
        var data = _dir.CreateSub("data");
        await using var engine = OpenEngine(data);
        var chunk = TestChunks.Random(10_000, 7);
        await engine.AppendAsync(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, chunk.Bytes, CancellationToken.None);
        var backups = _dir.CreateSub("backups");
        var parts = new BackupParts(backups, data);
        var busy = await engine.HoldSegmentsAsync(CancellationToken.None);
        var taking = parts.TakeAsync(engine, Node, Name, TimeSpan.FromSeconds(60), CancellationToken.None);

        // Act
        var removing = parts.DeleteAsync(Name, Node, CancellationToken.None);
        var waitedForTheSnapshot = !removing.IsCompleted;
        busy.Dispose();
        await taking.WaitAsync(TimeSpan.FromSeconds(60));
        var removed = await removing.WaitAsync(TimeSpan.FromSeconds(60));

        // Assert: the removal ran after the copy, so it found the finished part (its node-id names this node) and
        // removed it with the emptied backup folder; nothing of the snapshot is left behind.
        Assert.True(waitedForTheSnapshot);
        Assert.True(removed);
        Assert.False(Directory.Exists(Path.Combine(backups, Name)));
    }

    [Fact]
    public async Task A_second_snapshot_of_a_name_already_being_taken_on_the_node_is_refused_and_writes_nothing_of_its_own()
    {
        // Arrange: the first snapshot holds the name and waits for the held segments.
        var data = _dir.CreateSub("data");
        await using var engine = OpenEngine(data);
        var backups = _dir.CreateSub("backups");
        var parts = new BackupParts(backups, data);
        var busy = await engine.HoldSegmentsAsync(CancellationToken.None);
        var first = parts.TakeAsync(engine, Node, Name, TimeSpan.FromSeconds(60), CancellationToken.None);

        // Act
        var refused = await Assert.ThrowsAsync<DropboxException>(() =>
            parts.TakeAsync(engine, Node, Name, TimeSpan.FromSeconds(60), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));
        busy.Dispose();
        await first.WaitAsync(TimeSpan.FromSeconds(60));

        // Assert: refused as already under way, and the first snapshot's part is the only thing in the folder, whole.
        Assert.Equal(ErrorKind.AlreadyExists, refused.Kind);
        Assert.Contains(Name, refused.Message, StringComparison.Ordinal);
        Assert.Equal([Path.Combine(backups, Name, "data")], Directory.GetFileSystemEntries(Path.Combine(backups, Name)));
        Assert.True(File.Exists(Path.Combine(backups, Name, "data", "node-id")));
    }

    [Fact]
    public async Task A_snapshot_arriving_while_a_removal_of_the_same_name_is_under_way_is_refused_and_leaves_nothing()
    {
        // Arrange: a removal that has taken the name and is paused before it removes anything.
        var data = _dir.CreateSub("data");
        await using var engine = OpenEngine(data);
        var backups = _dir.CreateSub("backups");
        var paused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var parts = new BackupParts(backups, data) { BeforeRemoval = _ => paused.Task };
        var removing = parts.DeleteAsync(Name, Node, CancellationToken.None);

        // Act: a snapshot of that name now (were it let through, the removal would delete the part it then wrote, and
        // the backup would be acknowledged with nothing of this node in it).
        var taking = parts.TakeAsync(engine, Node, Name, TimeSpan.FromSeconds(60), CancellationToken.None);
        var refused = await Record.ExceptionAsync(() => taking.WaitAsync(TimeSpan.FromSeconds(60)));
        paused.SetResult();
        await removing.WaitAsync(TimeSpan.FromSeconds(60));

        // Assert
        Assert.Equal(ErrorKind.AlreadyExists, Assert.IsType<DropboxException>(refused).Kind);
        Assert.False(Directory.Exists(Path.Combine(backups, Name)));
    }

    /// <summary>A snapshot under way (waiting for held segments): its .partial exists, as when a node is killed mid-copy.</summary>
    /// <summary>
    /// A finished part at <paramref name="finished"/>, and what a snapshot of <see cref="Name"/> leaves when its process is
    /// killed mid-copy: a .partial whose node-id (written first) names this node, some segments, and no lock (a kill
    /// releases it).
    /// </summary>
    private static async Task LeaveKilledSnapshotAsync(string data, string backups, string finished)
    {
        await using (var engine = OpenEngine(data))
        {
            var chunk = TestChunks.Random(10_000, 9);
            await engine.AppendAsync(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, chunk.Bytes, CancellationToken.None);
            await new BackupParts(backups, data).TakeAsync(engine, Node, finished, TimeSpan.FromSeconds(60), CancellationToken.None);
        }

        var partial = Path.Combine(backups, Name, "data.partial");
        Directory.CreateDirectory(Path.Combine(partial, "segments"));
        File.WriteAllText(Path.Combine(partial, StoreSnapshot.NodeIdFile), Node.Value + "\n");
        File.WriteAllBytes(Path.Combine(partial, "segments", "00000001.fseg"), new byte[4096]);
    }

    [Fact]
    public async Task A_partial_left_by_a_snapshot_the_node_was_killed_in_is_removed_at_its_next_start_and_finished_parts_and_other_nodes_partials_stay()
    {
        // Arrange: a finished part, this node's .partial of a snapshot it "died" in, and another node's .partial.
        var data = _dir.CreateSub("data");
        var backups = _dir.CreateSub("backups");
        const string Finished = "20261201T210000Z";
        const string Other = "20261201T230000Z";
        await LeaveKilledSnapshotAsync(data, backups, Finished);
        var otherPartial = Directory.CreateDirectory(Path.Combine(backups, Other, "data.partial")).FullName;
        File.WriteAllText(Path.Combine(otherPartial, StoreSnapshot.NodeIdFile), "storage-y\n");

        // Act: the node starts again (a new process: nothing in memory says it made that .partial).
        var removed = new BackupParts(backups, data).RemoveStalePartials(Node);

        // Assert
        Assert.Equal([Name], removed);
        Assert.False(Directory.Exists(Path.Combine(backups, Name)));
        Assert.True(File.Exists(Path.Combine(backups, Finished, "data", StoreSnapshot.NodeIdFile)));
        Assert.True(Directory.Exists(otherPartial));
    }

    [Fact]
    public async Task A_partial_left_by_a_snapshot_the_node_was_killed_in_is_removed_with_its_backup_after_a_restart()
    {
        var data = _dir.CreateSub("data");
        var backups = _dir.CreateSub("backups");
        await LeaveKilledSnapshotAsync(data, backups, "20261201T210000Z");

        // Act: the metadata node retires the failed backup (retention) through the restarted node.
        var removed = await new BackupParts(backups, data).DeleteAsync(Name, Node, CancellationToken.None);

        Assert.True(removed);
        Assert.False(Directory.Exists(Path.Combine(backups, Name)));
    }

    [Fact]
    public async Task A_snapshot_still_running_in_another_process_is_neither_swept_nor_removed_and_finishes_whole()
    {
        // Arrange: a snapshot under way (it waits for the segments, its .partial already names this node), and a second
        // BackupParts on the same folders, as a second process with the same data directory and node id would have.
        var data = _dir.CreateSub("data");
        var backups = _dir.CreateSub("backups");
        await using var engine = OpenEngine(data);
        var chunk = TestChunks.Random(10_000, 10);
        await engine.AppendAsync(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, chunk.Bytes, CancellationToken.None);
        var busy = await engine.HoldSegmentsAsync(CancellationToken.None);
        var taking = new BackupParts(backups, data).TakeAsync(engine, Node, Name, TimeSpan.FromSeconds(60), CancellationToken.None);
        Assert.True(File.Exists(Path.Combine(backups, Name, "data.partial", StoreSnapshot.NodeIdFile)));
        var second = new BackupParts(backups, data);

        // Act: the second one's start sweep, and a removal of that backup through it.
        var swept = second.RemoveStalePartials(Node);
        var removed = await second.DeleteAsync(Name, Node, CancellationToken.None);
        busy.Dispose();
        await taking.WaitAsync(TimeSpan.FromSeconds(60));

        // Assert: the running snapshot was left alone and finished with its segments and node-id.
        Assert.Empty(swept);
        Assert.False(removed);
        Assert.True(File.Exists(Path.Combine(backups, Name, "data", StoreSnapshot.NodeIdFile)));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(backups, Name, "data", "segments")));
    }
}
