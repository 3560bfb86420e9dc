using Dropbox.Shared.Chunks;

namespace Dropbox.StorageNode.Tests.Services;

/// <summary>
/// The storage node's reporter (ClusterAgent) when its event outbox fails: an I/O error in the outbox left the
/// reporting loop, the node's hosted service failed with it, and the host stopped (no later event was ever reported).
/// </summary>
public sealed class OutboxFailureAgentTests
{
    [Fact]
    public async Task A_delivered_mark_that_cannot_be_written_is_logged_and_later_events_are_still_reported()
    {
        using var dir = new TempFolder();
        var port = QuietPorts.Next();
        await using var node = await NodeFixture.StartAsync(o => o with { MetadataUrl = $"http://127.0.0.1:{port}", MaxRetryDelay = TimeSpan.FromMilliseconds(200) }, dir);
        await using var metadata = await FakeMetadataNode.StartAsync(port, node.Options.KeysDirectory);

        // The mark is written through a temporary file beside it: a folder in its place makes every mark write fail.
        var blocker = Path.Combine(node.Options.DataDirectory, "outbox", "delivered.tmp");
        Directory.CreateDirectory(blocker);
        var (first, firstBytes) = TestChunks.Random(20_000, 931);
        await node.Store.PutAsync(first, ChunkEncoding.Raw, firstBytes.Length, firstBytes, "ns", CancellationToken.None);
        await AgentWait.UntilAsync(() => metadata.Reports.Contains("stored " + first), "the first stored event");

        // Its mark failed to be written; the disk is fine again.
        await Task.Delay(300);
        Directory.Delete(blocker);
        var (second, secondBytes) = TestChunks.Random(20_000, 932);
        await node.Store.PutAsync(second, ChunkEncoding.Raw, secondBytes.Length, secondBytes, "ns", CancellationToken.None);
        await AgentWait.UntilAsync(() => metadata.Reports.Contains("stored " + second), "a stored event after the outbox failed once (the reporter must keep running)");
    }
}
