using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Google.Protobuf;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// Fields a later release adds to a file or node record must survive this release rewriting the record (after a
/// rollback), so that rolling forward again finds them.
/// </summary>
public sealed class UnknownStoredFieldTests
{
    [Fact]
    public async Task Fields_of_a_later_release_survive_retention_pruning_and_the_path_level_ones_a_new_version()
    {
        using var h = new StoreHarness(o => o with { KeepAge = TimeSpan.FromHours(1) });
        var (alice, _) = h.Store.AddUser("alice");
        var v1 = await h.PutFileAsync(alice, "a.txt", 0, StoreHarness.Chunk(1));
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        var v2 = await h.PutFileAsync(alice, "a.txt", v1.Entry.Version, StoreHarness.Chunk(2));
        var key = Keys.File(alice.Namespace.Value, "a.txt");
        var engine = h.Store.Engine;

        // As a later release would write it: field 100 on the record, field 99 on its entry.
        var raw = engine.Get(key, engine.Files)!;
        var entry = PreviousReleaseFileRecord.WithVarint(PreviousReleaseFileRecord.Bytes(raw, 1)!, 99, 7);
        using (var stream = new MemoryStream())
        {
            var output = new CodedOutputStream(stream);
            output.WriteTag(1, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(ByteString.CopyFrom(entry));
            output.Flush();
            raw = PreviousReleaseFileRecord.WithVarint(PreviousReleaseFileRecord.WithVarint(stream.ToArray(), 2, 2), 100, 5);
        }

        using (var batch = new RocksDbSharp.WriteBatch())
        {
            batch.Put(key, raw, engine.Files);
            engine.Write(batch, sync: true);
        }

        h.Clock.Advance(TimeSpan.FromHours(2));
        var gc = await h.Store.RunGcOnceAsync(CancellationToken.None);

        Assert.Equal(1, gc.PrunedVersions);
        var pruned = engine.Get(key, engine.Files)!;
        Assert.Equal(1UL, PreviousReleaseFileRecord.Varint(pruned, 2));
        Assert.Equal(5UL, PreviousReleaseFileRecord.Varint(pruned, 100));
        Assert.Equal(7UL, PreviousReleaseFileRecord.Varint(PreviousReleaseFileRecord.Bytes(pruned, 1)!, 99));
        Assert.Equal(v2.Entry.Version, h.Store.ListFiles(alice, "", includeDeleted: false).Entries.Single().Version);

        // A new version replaces the entry (its fields described the old one) but keeps the record's.
        h.Heartbeat();
        await h.PutFileAsync(alice, "a.txt", v2.Entry.Version, StoreHarness.Chunk(3));
        var updated = engine.Get(key, engine.Files)!;
        Assert.Equal(5UL, PreviousReleaseFileRecord.Varint(updated, 100));
        Assert.Null(PreviousReleaseFileRecord.Varint(PreviousReleaseFileRecord.Bytes(updated, 1)!, 99));
        h.AssertConsistent();
    }

    [Fact]
    public void Fields_of_a_later_release_survive_a_node_s_heartbeat_drain_and_registration_and_the_end_of_a_forget()
    {
        using var h = new StoreHarness();
        var engine = h.Store.Engine;
        var nodeKey = Keys.Node(StoreHarness.NodeA);
        var forgottenKey = Keys.ForgottenNode("node-gone");

        // As a later release would write them: field 100 on the node record and on a forgotten node's (its forget cut
        // short, so the next open finishes it and rewrites the record).
        using (var batch = new RocksDbSharp.WriteBatch())
        {
            batch.Put(nodeKey, PreviousReleaseFileRecord.WithVarint(engine.Get(nodeKey, engine.Nodes)!, 100, 5), engine.Nodes);
            batch.Put(forgottenKey, PreviousReleaseFileRecord.WithVarint(new ForgottenNodeRecord { NodeId = "node-gone", ForgottenUnixMs = 1 }.ToByteArray(), 100, 6), engine.Meta);
            engine.Write(batch, sync: true);
        }

        h.Reopen();
        engine = h.Store.Engine;
        byte[] Node() => engine.Get(nodeKey, engine.Nodes)!;

        h.Store.Nodes.Heartbeat(StoreHarness.NodeA, usedBytes: 70, chunkCount: 3);
        Assert.Equal(3UL, PreviousReleaseFileRecord.Varint(Node(), 7));
        Assert.Equal(5UL, PreviousReleaseFileRecord.Varint(Node(), 100));

        h.Store.Nodes.SetDraining(StoreHarness.NodeA, draining: true);
        Assert.Equal(1UL, PreviousReleaseFileRecord.Varint(Node(), 8));
        Assert.Equal(5UL, PreviousReleaseFileRecord.Varint(Node(), 100));

        h.Store.Nodes.Register(new NodeRegistration(StoreHarness.NodeA, "http://127.0.0.1:2", "", 100, 80));
        Assert.Equal(80UL, PreviousReleaseFileRecord.Varint(Node(), 5));
        Assert.Equal(1UL, PreviousReleaseFileRecord.Varint(Node(), 8));
        Assert.Equal(5UL, PreviousReleaseFileRecord.Varint(Node(), 100));
        Assert.Equal(new StorageNodeInfo { NodeId = StoreHarness.NodeA, GrpcUrl = "http://127.0.0.1:2", CapacityBytes = 100, UsedBytes = 80, LastHeartbeatUnixMs = h.Clock.GetUtcNow().ToUnixTimeMilliseconds(), Draining = true }, h.Store.Nodes.Require(StoreHarness.NodeA));

        var forgotten = engine.Get(forgottenKey, engine.Meta)!;
        Assert.Equal(1UL, PreviousReleaseFileRecord.Varint(forgotten, 3));
        Assert.Equal(6UL, PreviousReleaseFileRecord.Varint(forgotten, 100));
        Assert.Equal(new ForgottenNodeInfo("node-gone", 1, AllLocationsCleared: true), Assert.Single(h.Store.Nodes.Forgotten()));
    }
}
