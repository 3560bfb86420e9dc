using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Google.Protobuf;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// Fields a later release adds to a file record must survive this release rewriting the record (after a rollback),
/// so that rolling forward again finds them.
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
}
