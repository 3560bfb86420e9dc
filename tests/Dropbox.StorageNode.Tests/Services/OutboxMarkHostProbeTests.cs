using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Engine.Durable;
using Dropbox.StorageNode.Engine.Files;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Tests.Services;

/// <summary>
/// Review probe (stop 56): the delivered mark is written at most once a second and when the outbox closes. The host
/// registers the outbox as a singleton; this checks a graceful stop of a real node closes it (the last mark written),
/// so a clean restart does not deliver the last second's events again.
/// </summary>
public sealed class OutboxMarkHostProbeTests
{
    [Fact]
    public async Task Probe_a_graceful_stop_of_a_real_node_writes_the_delivered_mark_that_was_behind()
    {
        using var dir = new TempFolder();
        var port = QuietPorts.Next();
        var node = await NodeFixture.StartAsync(o => o with { MetadataUrl = $"http://127.0.0.1:{port}" }, dir);
        await using var metadata = await FakeMetadataNode.StartAsync(port, node.Options.KeysDirectory);
        var outboxDir = Path.Combine(node.Options.DataDirectory, "outbox");
        var behind = false;
        try
        {
            // One put at a time, each reported before the next: the first mark is written at once, a later one within
            // the second after it waits. Stop once the mark on disk is behind the log.
            for (var n = 0; n < 20 && !behind; n++)
            {
                var (id, bytes) = TestChunks.Random(20_000, 5600 + n);
                await node.Store.PutAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, "ns", CancellationToken.None);
                await AgentWait.UntilAsync(() => metadata.Reports.Contains("stored " + id) && node.Store.Outbox.PendingCount == 0, "the stored event of put " + n);
                behind = MarkOnDisk(outboxDir) < new FileInfo(Path.Combine(outboxDir, "events.log")).Length;
            }
        }
        finally
        {
            await node.DisposeAsync(); // StopAsync, then DisposeAsync of the host: as Program.cs does
        }

        Assert.True(behind, "no delivery left the mark behind (each came over a second after the last mark written)");
        Assert.Equal(new FileInfo(Path.Combine(outboxDir, "events.log")).Length, MarkOnDisk(outboxDir));
        await using var reopened = new EventOutbox(outboxDir);
        Assert.Equal(0, reopened.PendingCount);
    }

    private static long MarkOnDisk(string outboxDir)
    {
        var content = RecordFile.TryRead(DiskFiles.Instance, Path.Combine(outboxDir, "delivered"), OutboxCodecs.Delivered.Instance, out long mark, out _);
        return content == RecordFileContent.Record ? mark : 0;
    }
}
