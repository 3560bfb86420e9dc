using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Cluster;
using Microsoft.Extensions.DependencyInjection;

namespace Dropbox.StorageNode.Tests.Services;

/// <summary>The storage node's side of corrupt reports (ClusterAgent): what it tells the metadata node, and in what order.</summary>
public sealed class CorruptReportAgentTests
{
    [Fact]
    public async Task A_chunk_stored_again_while_its_corrupt_report_was_on_the_way_is_announced_stored_after_the_report()
    {
        using var dir = new TempFolder();
        var port = FakeMetadataNode.FreePort();
        await using var node = await NodeFixture.StartAsync(o => o with { MetadataUrl = $"http://127.0.0.1:{port}" }, dir);
        await using var metadata = await FakeMetadataNode.StartAsync(port, node.Options.KeysDirectory);
        var (id, bytes) = TestChunks.Random(20_000, 901);
        await node.Store.PutAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, "ns", CancellationToken.None);
        await WaitUntilAsync(() => metadata.Reports.Contains("stored " + id), "the first stored event");

        // While the report of the quarantined chunk is on its way, the chunk is put again (ending its quarantine) and
        // that put's stored event reaches the metadata node first.
        var agent = node.Services.GetRequiredService<ClusterAgent>();
        var restored = false;
        agent.WhileReportingCorrupt = async batch =>
        {
            agent.WhileReportingCorrupt = null;
            Assert.Contains(id, batch);
            await node.Store.PutAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, "ns", CancellationToken.None);
            Assert.False(node.Store.Engine.IsQuarantined(id));
            await WaitUntilAsync(() => metadata.Reports.Count(r => r == "stored " + id) >= 2, "the re-put's stored event");
            restored = true;
        };
        Assert.True(node.Store.Engine.TryGetLocation(id, out var location));
        var segment = Directory.GetFiles(Path.Combine(node.Options.DataDirectory, "segments"), "*.fseg").Single(f => new FileInfo(f).Length > 0);
        using (var stream = new FileStream(segment, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            stream.Position = location.Offset + Dropbox.StorageNode.Engine.SegmentRecord.HeaderSize + 1234;
            var b = stream.ReadByte();
            stream.Position--;
            stream.WriteByte((byte)(b ^ 0x80));
        }

        Assert.Single((await node.Store.ScrubAsync(CancellationToken.None)).Corrupt);

        // The report arrived after the re-put's event; a fresh stored event must follow it, or the metadata node would
        // take the intact copy here for gone.
        await WaitUntilAsync(() => restored && metadata.Reports.Contains("corrupt " + id) && metadata.Reports.ToList().LastIndexOf("stored " + id) > metadata.Reports.ToList().LastIndexOf("corrupt " + id), "a stored event after the corrupt report");
        Assert.False(node.Store.Engine.IsQuarantined(id));
    }

    [Fact]
    public async Task A_chunk_found_corrupt_by_a_download_is_quarantined_and_reported_without_a_scrub()
    {
        // Arrange: a real node reporting to a fake metadata node; one of two chunks gets a flipped byte in its segment.
        using var dir = new TempFolder();
        var port = FakeMetadataNode.FreePort();
        await using var node = await NodeFixture.StartAsync(o => o with { MetadataUrl = $"http://127.0.0.1:{port}", ScrubInterval = TimeSpan.FromDays(1) }, dir);
        await using var metadata = await FakeMetadataNode.StartAsync(port, node.Options.KeysDirectory);
        var bad = TestChunks.Random(20_000, 911);
        var good = TestChunks.Random(20_000, 912);
        await node.PutRawAsync(bad, good);
        await WaitUntilAsync(() => metadata.Reports.Contains("stored " + bad.Id) && metadata.Reports.Contains("stored " + good.Id), "the stored events");
        Assert.True(node.Store.Engine.TryGetLocation(bad.Id, out var location));
        var segment = Directory.GetFiles(Path.Combine(node.Options.DataDirectory, "segments"), "*.fseg").Single(f => new FileInfo(f).Length > 0);
        using (var stream = new FileStream(segment, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            stream.Position = location.Offset + Dropbox.StorageNode.Engine.SegmentRecord.HeaderSize + 321;
            var b = stream.ReadByte();
            stream.Position--;
            stream.WriteByte((byte)(b ^ 0x80));
        }

        // Act: a client downloads both over HTTP, as the sync client does.
        using var refused = await node.Http.GetAsync($"{node.HttpUrl}/chunks/{bad.Id}?token={Uri.EscapeDataString(node.GetToken(bad.Id))}");
        using var served = await node.Http.GetAsync($"{node.HttpUrl}/chunks/{good.Id}?token={Uri.EscapeDataString(node.GetToken(good.Id))}");

        // Assert: the corrupt one is refused, quarantined and reported corrupt (so re-replication repairs it); the intact one is served and kept.
        Assert.False(refused.IsSuccessStatusCode);
        Assert.True(served.IsSuccessStatusCode);
        Assert.True(node.Store.Engine.IsQuarantined(bad.Id));
        Assert.False(node.Store.Engine.IsQuarantined(good.Id));
        await WaitUntilAsync(() => metadata.Reports.Contains("corrupt " + bad.Id), "the corrupt report");
        Assert.DoesNotContain("corrupt " + good.Id, metadata.Reports);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for " + what);
            await Task.Delay(20);
        }
    }
}
