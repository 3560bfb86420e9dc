using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.Shared.Chunks;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Tokens;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// A data folder written by an earlier release (Fixtures/metadata-v0, see <see cref="FixtureWriter"/>) must open with
/// today's code and hold the same users, files, versions, change feed, chunk references and nodes.
/// </summary>
public sealed class FixtureFolderTests
{
    private static string FixturePath => Path.Combine(AppContext.BaseDirectory, "Fixtures", "metadata-v0");

    [Fact]
    public async Task A_folder_written_by_the_first_release_opens_and_holds_its_users_files_versions_and_changes()
    {
        using var dir = new TempFolder();
        using var store = OpenCopy(dir);

        var users = store.ListUsers().OrderBy(u => u.Name).ToList();
        Assert.Equal(["alice", "bob"], users.Select(u => u.Name));
        Assert.True(users[0].IsAdmin);
        Assert.False(users[1].IsAdmin);
        var alice = users[0];
        var bob = users[1];

        var files = store.ListFiles(alice, "", includeDeleted: true);
        Assert.Equal(["b.bin", "docs/a.txt", "empty", "moved/b.bin", "old/gone.txt"], files.Entries.Select(f => f.Path).Order());
        var a = files.Entries.Single(f => f.Path == "docs/a.txt");
        Assert.Equal(3UL, a.Version);
        Assert.Equal(5000UL, a.Size);
        Assert.Equal(2, a.Chunks.Count);
        Assert.Equal(32, a.ContentHash.Length);
        Assert.True(files.Entries.Single(f => f.Path == "old/gone.txt").Deleted);
        Assert.True(files.Entries.Single(f => f.Path == "b.bin").Deleted);
        Assert.Equal(PathKind.Folder, files.Entries.Single(f => f.Path == "empty").Kind);
        Assert.Equal(["docs/a.txt", "empty", "moved/b.bin"], store.ListFiles(alice, "", includeDeleted: false).Entries.Select(f => f.Path).Order());

        var versions = store.ListVersions(alice, "docs/a.txt");
        Assert.Equal([1UL, 2UL, 3UL], versions.Select(v => v.Version).Order());
        Assert.Equal("test", versions[0].ModifiedBy);

        var changes = await store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None);
        Assert.Equal(
            [ChangeType.Upsert, ChangeType.Upsert, ChangeType.Upsert, ChangeType.Upsert, ChangeType.Upsert, ChangeType.Delete, ChangeType.Move, ChangeType.Folder],
            changes.Changes.Select(c => c.Kind));
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (ulong)i), changes.Changes.Select(c => c.Sequence));
        var move = changes.Changes[6];
        Assert.Equal(("b.bin", "moved/b.bin"), (move.OldPath, move.Entry!.Path));

        var account = store.GetAccount(alice);
        Assert.Equal(2UL, account.FileCount);
        Assert.Equal(8000UL, account.TotalBytes);
        Assert.Equal(1_000_000UL, store.GetUserDetails("bob").QuotaBytes);
        Assert.Single((await store.ListChangesAsync(bob, null, 0, 0, CancellationToken.None)).Changes);

        // Chunk 1 (1000 bytes) is in alice's versions 1 and 2 and in bob's file: three references.
        var c1 = StoreHarness.Chunk(1, 1000);
        var chunk = ChunkRecord.Parser.ParseFrom(store.Engine.Get(Dropbox.MetadataNode.Storage.Keys.Chunk(c1.Id), store.Engine.Chunks));
        Assert.Equal(3, chunk.Refcount);
        Assert.Equal([StoreHarness.NodeA], chunk.Locations);
        Assert.Equal(1, store.RegisteredNodeCount);
        Assert.Empty(store.CheckConsistency());
    }

    [Fact]
    public void Opening_a_folder_of_the_first_release_stamps_the_schema_version_and_rewrites_no_record()
    {
        using var dir = new TempFolder();
        CopyFixture(dir);
        List<(byte[] Key, byte[] Value)> before;
        using (var engine = RocksEngine.Open(dir.Sub("db")))
        {
            Assert.Equal(0U, StoreSchema.Read(engine));
            before = engine.ScanAll(engine.Files).ToList();
        }

        ulong afterUpgrade;
        using (var store = OpenCopy(dir, copy: false))
        {
            Assert.Equal(StoreSchema.Current, StoreSchema.Read(store.Engine));
            Assert.Contains("from schema version 0 to 2", store.SchemaUpgrade);
            Assert.Equal(before, store.Engine.ScanAll(store.Engine.Files).ToList(), RawRecords);
            Assert.Empty(store.CheckConsistency());
            afterUpgrade = store.Engine.LatestSequence;
        }

        using (var store = OpenCopy(dir, copy: false))
        {
            Assert.Null(store.SchemaUpgrade);
            Assert.Equal(afterUpgrade, store.Engine.LatestSequence);
            Assert.Equal(StoreSchema.Current, StoreSchema.Read(store.Engine));
            var alice = store.ListUsers().Single(u => u.Name == "alice");
            Assert.Equal(5, store.ListFiles(alice, "", includeDeleted: true).Entries.Count);
        }
    }

    [Fact]
    public async Task After_an_upgrade_the_previous_release_still_reads_and_writes_the_folder_and_this_release_reads_what_it_wrote()
    {
        using var dir = new TempFolder();
        string ns;
        PathEntry moved;
        using (var store = OpenCopy(dir))
        {
            var alice = store.ListUsers().Single(u => u.Name == "alice");
            ns = alice.Namespace.Value;
            var a = store.ListFiles(alice, "", includeDeleted: false).Entries.Single(f => f.Path == "docs/a.txt");
            await store.DeleteAsync(alice, "docs/a.txt", a.Version, "new-release");
            moved = store.ListFiles(alice, "", includeDeleted: false).Entries.Single(f => f.Path == "moved/b.bin");

            // What this release wrote, the previous release reads: every file record has its entry where it looks.
            foreach (var (key, value) in store.Engine.ScanAll(store.Engine.Files))
            {
                var (current, count) = PreviousReleaseFileRecord.Read(value);
                Assert.NotNull(current);
                Assert.True(count >= 1);
                Assert.Equal(System.Text.Encoding.UTF8.GetString(key).Split('\0')[^1], current.Path);
            }

            var deleted = PreviousReleaseFileRecord.Read(store.Engine.Get(Keys.File(ns, "docs/a.txt"), store.Engine.Files)!);
            Assert.True(deleted.Current!.Deleted);
            Assert.Equal("new-release", deleted.Current.ModifiedBy);
        }

        // The previous release (rolled back to) rewrites a record in its own layout.
        using (var engine = RocksEngine.Open(dir.Sub("db")))
        {
            var old = Dropbox.MetadataNode.Services.Mapping.SyncMapping.ToWire(moved with { ModifiedBy = "previous-release" });
            using var batch = new RocksDbSharp.WriteBatch();
            batch.Put(Keys.File(ns, "moved/b.bin"), PreviousReleaseFileRecord.Write(old, 1), engine.Files);
            engine.Write(batch, sync: true);
        }

        // Upgraded again: the record reads as the previous release wrote it, and a commit on it is an update.
        using (var store = OpenCopy(dir, copy: false))
        {
            var alice = store.ListUsers().Single(u => u.Name == "alice");
            var files = store.ListFiles(alice, "", includeDeleted: false).Entries;
            Assert.Equal(["empty", "moved/b.bin"], files.Select(f => f.Path).Order());
            var b = files.Single(f => f.Path == "moved/b.bin");
            Assert.Equal(("previous-release", moved.Version, moved.Size), (b.ModifiedBy, b.Version, b.Size));
            Assert.Equal(moved.Chunks, b.Chunks);
            var before = store.GetAccount(alice);

            await store.MoveAsync(alice, "moved/b.bin", "b2.bin", b.Version, "new-release");

            Assert.Equal(before.FileCount, store.GetAccount(alice).FileCount);
            Assert.Equal(before.TotalBytes, store.GetAccount(alice).TotalBytes);
            Assert.Empty(store.CheckConsistency());
        }
    }

    [Fact]
    public void Offline_commands_print_what_opening_the_folder_upgraded()
    {
        using var dir = new TempFolder();
        CopyFixture(dir);
        var notices = new StringWriter();
        using (Dropbox.MetadataNode.Cli.MetadataNodeCommandLine.OpenOffline(dir.Sub("db"), notices))
        {
        }

        Assert.Contains("from schema version 0 to 2", notices.ToString());
        Assert.Contains(dir.Sub("db"), notices.ToString());

        var again = new StringWriter();
        using (Dropbox.MetadataNode.Cli.MetadataNodeCommandLine.OpenOffline(dir.Sub("db"), again))
        {
        }

        Assert.Equal("", again.ToString());
    }

    [Fact]
    public void A_folder_from_a_newer_release_is_refused_and_left_as_it_is()
    {
        using var dir = new TempFolder();
        CopyFixture(dir);
        using (var engine = RocksEngine.Open(dir.Sub("db")))
        {
            using var batch = new RocksDbSharp.WriteBatch();
            batch.Put(StoreSchema.VersionKey.ToArray(), BitConverter.GetBytes(StoreSchema.Current + 1), engine.Meta);
            engine.Write(batch, sync: true);
        }

        var ex = Assert.Throws<DropboxException>(() => OpenCopy(dir, copy: false));

        Assert.Contains("newer release", ex.Message);
        using var reopened = RocksEngine.Open(dir.Sub("db"));
        Assert.Equal(StoreSchema.Current + 1, StoreSchema.Read(reopened));
        using var pristine = new TempFolder();
        using var fixture = RocksEngine.Open(CopyFixture(pristine));
        Assert.Equal(fixture.ScanAll(fixture.Files).ToList(), reopened.ScanAll(reopened.Files).ToList(), RawRecords);
    }

    [Fact]
    public void Upgrading_a_schema_1_folder_moves_its_tombstones_out_of_the_chunks_family_and_a_schema_1_release_refuses_it_afterwards()
    {
        // Arrange: a schema-1 folder (the fixture stamped 1) whose chunks CF holds a tombstone, as schema 1 wrote them,
        // and a deleted chunk that is not a tombstone (it still has a location being deleted).
        using var dir = new TempFolder();
        CopyFixture(dir);
        var tombstone = StoreHarness.Chunk(77).Id;
        var deleting = StoreHarness.Chunk(78).Id;
        using (var engine = RocksEngine.Open(dir.Sub("db")))
        {
            using var batch = new RocksDbSharp.WriteBatch();
            batch.Put(StoreSchema.VersionKey.ToArray(), BitConverter.GetBytes(1U), engine.Meta);
            batch.Put(Keys.Chunk(tombstone), Google.Protobuf.MessageExtensions.ToByteArray(new ChunkRecord { State = ChunkState.Deleted, Size = 10 }), engine.Chunks);
            batch.Put(Keys.Chunk(deleting), Google.Protobuf.MessageExtensions.ToByteArray(new ChunkRecord { State = ChunkState.Deleting, DeletingLocations = { StoreHarness.NodeA } }), engine.Chunks);
            engine.Write(batch, sync: true);
        }

        // Act: this release opens it.
        using (var store = OpenCopy(dir, copy: false))
        {
            // Assert: the tombstone is under its new key only, still read as DELETED; the other record did not move.
            Assert.Contains("from schema version 1 to 2", store.SchemaUpgrade);
            Assert.Contains("1 deleted-chunk tombstone(s) moved", store.SchemaUpgrade);
            Assert.Null(store.Engine.Get(Keys.Chunk(tombstone), store.Engine.Chunks));
            Assert.NotNull(store.Engine.Get(Keys.ChunkTombstone(tombstone), store.Engine.Meta));
            Assert.Equal(ChunkState.Deleted, ChunkLedger.Read(store.Engine, tombstone)!.State);
            Assert.NotNull(store.Engine.Get(Keys.Chunk(deleting), store.Engine.Chunks));

            // A held-up "stored" event for the moved tombstone is still not trusted.
            var report = new ReportChunksStoredRequest { NodeId = StoreHarness.NodeA, Chunks = { new StoredChunk { ChunkId = tombstone.ToByteString(), Size = 10, StoredSize = 10 } } };
            store.ReportChunksStored(report);
            Assert.Equal(ChunkState.Deleted, ChunkLedger.Read(store.Engine, tombstone)!.State);
        }

        // A release of schema 1 refuses a folder of a newer version (StoreSchema.Migrate there throws for found > 1).
        using var reopened = RocksEngine.Open(dir.Sub("db"));
        Assert.True(StoreSchema.Read(reopened) > 1);
    }

    [Fact]
    public void A_new_store_starts_at_the_current_schema()
    {
        using var h = new StoreHarness();
        Assert.Equal(StoreSchema.Current, StoreSchema.Read(h.Store.Engine));
    }

    private static readonly IEqualityComparer<(byte[] Key, byte[] Value)> RawRecords =
        EqualityComparer<(byte[] Key, byte[] Value)>.Create((x, y) => x.Key.AsSpan().SequenceEqual(y.Key) && x.Value.AsSpan().SequenceEqual(y.Value), kv => kv.Value.Length);

    private static string CopyFixture(TempFolder dir)
    {
        var data = dir.Sub("db");
        Directory.CreateDirectory(data);
        foreach (var file in Directory.GetFiles(FixturePath))
        {
            File.Copy(file, Path.Combine(data, Path.GetFileName(file)));
        }

        return data;
    }

    private static MetadataStore OpenCopy(TempFolder dir, bool copy = true)
    {
        var data = dir.Sub("db");
        if (copy)
        {
            CopyFixture(dir);
        }

        var options = new MetadataNodeOptions
        {
            DataDirectory = data,
            KeysDirectory = dir.Sub("keys"),
            Clock = new ManualClock(),
            GcInterval = TimeSpan.Zero,
            SyncWrites = false,
            KeepVersions = 3,
        };
        return MetadataStore.Open(options, ChunkTokenService.ForKeyDirectory(options.KeysDirectory), new FakeGateway());
    }
}
