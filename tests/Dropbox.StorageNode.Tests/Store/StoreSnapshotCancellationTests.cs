using System.Diagnostics;
using System.Reflection;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.StorageNode.Engine;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Store;

/// <summary>
/// A snapshot the metadata node gave up on (its BackupNodeTimeout passed, so the manifest marks this node failed) stops
/// its copy and leaves no whole-looking folder; the wait for the segments is bounded apart from the copy.
/// </summary>
public sealed class StoreSnapshotCancellationTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_snapshot_cancelled_while_it_copies_the_active_segment_stops_and_leaves_neither_the_folder_nor_the_partial()
    {
        // Arrange: the "active segment" is a FIFO the test feeds, so the copy is under way, deterministically, when the
        // caller gives up; more bytes and the end of the file follow the cancellation.
        var fifo = Path.Combine(_dir.Path, "00000001.seg");
        using (var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [fifo]) { UseShellExecute = false })!)
        {
            await mkfifo.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0, mkfifo.ExitCode);
        }

        var engine = HeldEngine.Create(new SegmentHold([new SegmentFile(fifo, 8L << 20, Active: true)], () => { }));
        var destination = Path.Combine(_dir.CreateSub("backups"), "20261201T220000Z", "data");
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        using var cancel = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            await using var pipe = new FileStream(fifo, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            pipe.Write(new byte[1 << 20]); // returns once the copy has read most of it (a pipe holds 64 KiB)
            await cancel.CancelAsync();
            try
            {
                pipe.Write(new byte[1 << 20]);
            }
            catch (IOException)
            {
                // The copy stopped reading and closed its end: what a fixed snapshot does.
            }
        });

        // Act
        var taking = StoreSnapshot.TakeAsync(engine, new NodeId("storage-x"), destination, TimeSpan.FromSeconds(30), cancel.Token);

        // Assert: a cancellation, and nothing that looks like (or is) a snapshot.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => taking.WaitAsync(TimeSpan.FromSeconds(60)));
        await writer.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.False(Directory.Exists(destination));
        Assert.False(Directory.Exists(destination + ".partial"));
    }

    [Fact]
    public async Task A_snapshot_waits_for_the_segments_only_as_long_as_its_hold_wait_and_then_fails_unavailable_naming_the_cause()
    {
        // Arrange: a real engine whose maintenance lock is held (as a long compaction or scrub pass would).
        var data = _dir.CreateSub("data");
        await using var engine = ChunkEngine.Open(TestChunks.SmallEngine(data));
        using var busy = await engine.HoldSegmentsAsync(CancellationToken.None);
        var destination = Path.Combine(_dir.CreateSub("backups"), "20261201T220000Z", "data");
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);

        // Act
        var refused = await Assert.ThrowsAsync<DropboxException>(() =>
            StoreSnapshot.TakeAsync(engine, new NodeId("storage-x"), destination, TimeSpan.FromMilliseconds(200), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60)));

        // Assert
        Assert.Equal(ErrorKind.Unavailable, refused.Kind);
        Assert.Contains("compaction", refused.Message, StringComparison.Ordinal);
        Assert.Contains("--backup-hold-timeout", refused.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(destination));
        Assert.False(Directory.Exists(destination + ".partial"));
    }

    /// <summary>An engine that only hands out the given hold (a snapshot asks for nothing else).</summary>
    public class HeldEngine : DispatchProxy
    {
        private SegmentHold _hold = null!;

        internal static IChunkEngine Create(SegmentHold hold)
        {
            var engine = Create<IChunkEngine, HeldEngine>();
            ((HeldEngine)(object)engine)._hold = hold;
            return engine;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            targetMethod?.Name == nameof(IChunkEngine.HoldSegmentsAsync)
                ? Task.FromResult(_hold)
                : throw new NotSupportedException(targetMethod?.Name);
    }
}
