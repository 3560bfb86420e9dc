using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Cluster;
using Dropbox.StorageNode.Store;
using Microsoft.Extensions.DependencyInjection;

namespace Dropbox.StorageNode.Tests.Services;

/// <summary>The storage node's side of corrupt reports (ClusterAgent): what it tells the metadata node, and in what order.</summary>
public sealed class CorruptReportAgentTests
{
    [Fact]
    public async Task A_chunk_stored_again_while_its_corrupt_report_was_on_the_way_is_announced_stored_after_the_report()
    {
        using var dir = new TempFolder();
        var port = QuietPorts.Next();
        await using var node = await NodeFixture.StartAsync(o => o with { MetadataUrl = $"http://127.0.0.1:{port}" }, dir);
        await using var metadata = await FakeMetadataNode.StartAsync(port, node.Options.KeysDirectory);
        var (id, bytes) = TestChunks.Random(20_000, 901);
        await node.Store.PutAsync(id, ChunkEncoding.Raw, bytes.Length, bytes, "ns", CancellationToken.None);
        await AgentWait.UntilAsync(() => metadata.Reports.Contains("stored " + id), "the first stored event");

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
            await AgentWait.UntilAsync(() => metadata.Reports.Count(r => r == "stored " + id) >= 2, "the re-put's stored event");
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
        await AgentWait.UntilAsync(() => restored && metadata.Reports.Contains("corrupt " + id) && metadata.Reports.ToList().LastIndexOf("stored " + id) > metadata.Reports.ToList().LastIndexOf("corrupt " + id), "a stored event after the corrupt report");
        Assert.False(node.Store.Engine.IsQuarantined(id));
    }

    [Fact]
    public async Task A_download_refuses_a_record_that_fails_its_checksum_but_leaves_it_to_the_scrub()
    {
        // Arrange: a real node; one of two chunks gets a flipped byte in its segment (its record checksum fails).
        using var dir = new TempFolder();
        await using var node = await NodeFixture.StartAsync(o => o with { ScrubInterval = TimeSpan.FromDays(1) }, dir);
        var bad = TestChunks.Random(20_000, 911);
        var good = TestChunks.Random(20_000, 912);
        await node.PutRawAsync(bad, good);
        FlipStoredByte(node, bad.Id, 321);

        // Act: a client downloads both over HTTP, as the sync client does.
        using var refused = await node.Http.GetAsync($"{node.HttpUrl}/chunks/{bad.Id}?token={Uri.EscapeDataString(node.GetToken(bad.Id))}");
        using var served = await node.Http.GetAsync($"{node.HttpUrl}/chunks/{good.Id}?token={Uri.EscapeDataString(node.GetToken(good.Id))}");

        // Assert: the corrupt one is refused, but a read does not take it out of service (a header or newer-format failure
        // may hold a good payload); the scrub, which checks it, does.
        Assert.False(refused.IsSuccessStatusCode);
        Assert.True(served.IsSuccessStatusCode);
        Assert.False(node.Store.Engine.IsQuarantined(bad.Id));
        var scrub = await node.Store.Engine.ScrubAsync(ChunkStore.IsIntact, CancellationToken.None);
        Assert.Equal([bad.Id], scrub.Corrupt);
    }

    [Fact]
    public async Task A_read_path_quarantine_that_cannot_write_its_copy_is_logged_and_does_not_throw()
    {
        // Arrange: a corrupt chunk, and a quarantine folder that cannot take files (a regular file in its place, as a
        // full or failing disk would refuse the post-mortem copy).
        using var dir = new TempFolder();
        await using var node = await NodeFixture.StartAsync(o => o with { ScrubInterval = TimeSpan.FromDays(1) }, dir);
        var bad = TestChunks.Random(20_000, 913);
        await node.PutRawAsync(bad);
        FlipStoredByte(node, bad.Id, 100);
        var quarantine = Path.Combine(node.Options.DataDirectory, "quarantine");
        Assert.True(Directory.Exists(quarantine));
        Directory.Delete(quarantine, recursive: true);
        await File.WriteAllTextAsync(quarantine, "not a folder");

        // Act: the re-check a push or link read makes when the bytes do not hash to the id.
        var quarantined = await node.Store.QuarantineIfCorruptAsync(bad.Id, CancellationToken.None);

        // Assert: best effort: no exception replaces the read's own DataLoss, nothing is quarantined, the scrub can try again.
        Assert.False(quarantined);
        Assert.False(node.Store.Engine.IsQuarantined(bad.Id));
    }

    private static void FlipStoredByte(NodeFixture node, ChunkId id, int payloadOffset)
    {
        Assert.True(node.Store.Engine.TryGetLocation(id, out var location));
        var segment = Directory.GetFiles(Path.Combine(node.Options.DataDirectory, "segments"), "*.fseg").Single(f => new FileInfo(f).Length > 0);
        using var stream = new FileStream(segment, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        stream.Position = location.Offset + Dropbox.StorageNode.Engine.SegmentRecord.HeaderSize + payloadOffset;
        var b = stream.ReadByte();
        stream.Position--;
        stream.WriteByte((byte)(b ^ 0x80));
    }
}
