using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Domain.Replication;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>The metadata node's side of a storage node's "these chunks are corrupt here" report.</summary>
public sealed class CorruptReportTests
{
    [Fact]
    public async Task A_chunk_its_last_holder_reports_corrupt_damages_its_versions_until_a_plan_asks_for_it_and_a_put_heals_it()
    {
        // Arrange: v1 and v2 of a file, v2's chunk held only by node a.
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var good = StoreHarness.Chunk(1);
        var bad = StoreHarness.Chunk(2);
        await h.PutFileAsync(alice, "f", 0, good);
        var v2 = await h.PutFileAsync(alice, "f", h.Store.ListVersions(alice, "f")[0].Version, bad);

        // Act: node a reports it corrupt (twice: a node repeats its reports after a restart).
        var report = h.Store.ReportChunksCorrupt(StoreHarness.NodeA, [bad.Id]);
        var again = h.Store.ReportChunksCorrupt(StoreHarness.NodeA, [bad.Id]);

        // Assert: lost, and only v2 is damaged; its download plan is refused naming the damage; the check names it.
        Assert.Equal([bad.Id], report.Lost);
        Assert.Empty(again.Lost);
        var versions = h.Store.ListVersions(alice, "f");
        Assert.Equal(new HashSet<ulong> { v2.Entry.Version }, h.Store.DamagedVersions(versions));
        var refused = Assert.Throws<DropboxException>(() => h.Store.GetDownloadPlan(alice, "f", 0));
        Assert.Equal(ErrorKind.DataLoss, refused.Kind);
        Assert.Contains("damaged", refused.Message, StringComparison.Ordinal);
        Assert.Contains(bad.Id.ToString(), refused.Message, StringComparison.Ordinal);
        Assert.Single(h.Store.CheckConsistency(), p => p.StartsWith("damaged: version " + v2.Entry.Version + " of 'f'", StringComparison.Ordinal));

        // Act: a device that has the bytes plans the file again: it is asked for the chunk (not told "you hold it").
        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("f", v2.Entry.Version, bad));
        Assert.Contains(plan.Missing, p => p.ChunkId == bad.Id);

        // ... and its put is reported stored: healed.
        h.Stored(alice, bad);
        Assert.Empty(h.Store.DamagedVersions(h.Store.ListVersions(alice, "f")));
        Assert.Equal(bad.Id, h.Store.GetDownloadPlan(alice, "f", 0).Chunks.Single().Chunk.Id);
        h.AssertConsistent();
    }

    [Fact]
    public async Task Restoring_a_damaged_version_is_refused_naming_the_chunk_and_an_undamaged_one_is_restored()
    {
        // Arrange: v1 (good), v2 (its chunk held only by node a), then deleted; node a reports v2's chunk corrupt.
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var good = StoreHarness.Chunk(11);
        var bad = StoreHarness.Chunk(12);
        var v1 = await h.PutFileAsync(alice, "f", 0, good);
        var v2 = await h.PutFileAsync(alice, "f", v1.Entry.Version, bad);
        await h.Store.DeleteAsync(alice, "f", v2.Entry.Version, "dev");
        h.Store.ReportChunksCorrupt(StoreHarness.NodeA, [bad.Id]);
        var head = h.Store.ListVersions(alice, "f")[0].Version;

        // Act + Assert: v2, by number or as "the newest", is refused with DATA_LOSS naming the chunk; nothing changed.
        foreach (var version in new[] { v2.Entry.Version, 0UL })
        {
            var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.RestoreAsync(alice, "f", version, "dev"));
            Assert.Equal(ErrorKind.DataLoss, refused.Kind);
            Assert.Contains(bad.Id.ToString(), refused.Message, StringComparison.Ordinal);
        }

        Assert.Equal(head, h.Store.ListVersions(alice, "f")[0].Version);
        var restored = await h.Store.RestoreAsync(alice, "f", v1.Entry.Version, "dev");
        Assert.Equal(good.Id, h.Store.GetDownloadPlan(alice, "f", 0).Chunks.Single().Chunk.Id);
        Assert.False(restored.Entry.Deleted);
    }

    [Fact]
    public async Task Restoring_a_damaged_version_over_a_live_file_only_if_deleted_says_it_is_live_now()
    {
        // Arrange: v1's chunk lost (node a reported it corrupt), v2 live.
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var bad = StoreHarness.Chunk(13);
        var v1 = await h.PutFileAsync(alice, "f", 0, bad);
        await h.PutFileAsync(alice, "f", v1.Entry.Version, StoreHarness.Chunk(14));
        h.Store.ReportChunksCorrupt(StoreHarness.NodeA, [bad.Id]);

        // Act: an undelete (only if deleted) of the damaged v1.
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.RestoreAsync(alice, "f", v1.Entry.Version, "dev", onlyIfDeleted: true));

        // Assert: the path is live, which is the answer the caller acts on (not the damage of a version it would not restore).
        Assert.Equal(ErrorKind.AlreadyExists, refused.Kind);
        Assert.Contains("is live now", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_report_from_one_of_two_holders_only_drops_that_holder()
    {
        using var h = new StoreHarness(o => o with { ReplicationFactor = 2 });
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(3);
        await h.PutFileAsync(alice, "f", 0, chunk);
        h.Store.Nodes.Register(new NodeRegistration("node-b", "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        h.Store.ReportChunksStored("node-b", [new StoredChunkReport(chunk.Id, (uint)chunk.Size, chunk.Encoding, (uint)chunk.StoredSize, string.Empty)]);
        var before = h.Store.RepairRequests;

        var report = h.Store.ReportChunksCorrupt(StoreHarness.NodeA, [chunk.Id]);

        Assert.Equal(1, report.Repairable);
        Assert.Empty(report.Lost);
        Assert.Equal(before + 1, h.Store.RepairRequests);
        var holders = h.Store.GetDownloadPlan(alice, "f", 0).Chunks.Single().Holders;
        Assert.Equal(["node-b"], holders.Select(n => n.NodeId));
        Assert.Empty(h.Store.DamagedVersions(h.Store.ListVersions(alice, "f")));
    }

    [Fact]
    public async Task A_node_answer_taken_before_a_corrupt_report_does_not_list_the_node_again()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var c = StoreHarness.Chunk(4);

        // alice's put landed on node a but its event is held up, so her commit asks the node, which answers "held".
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing);
        h.Gateway.Put(StoreHarness.NodeA, c.Id);
        var report = default(CorruptReport);
        h.Gateway.AfterHas = () =>
        {
            // Between the answer and its use: bob's event lists node a, then node a's scrub quarantines the chunk and
            // its report removes node a again.
            h.Gateway.AfterHas = null;
            h.Stored(bob, c);
            report = h.Store.ReportChunksCorrupt(StoreHarness.NodeA, [c.Id]);
            return Task.CompletedTask;
        };

        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c), CancellationToken.None));

        Assert.NotNull(report);
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        var record = ChunkLedger.Read(h.Store.Engine, c.Id);
        Assert.True(record is null || record.Locations.Count == 0, "node a was listed again: " + record);
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c)).Missing);
    }
}
