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
        Assert.Equal(EntryKind.Folder, files.Entries.Single(f => f.Path == "empty").Kind);
        Assert.Equal(["docs/a.txt", "empty", "moved/b.bin"], store.ListFiles(alice, "", includeDeleted: false).Entries.Select(f => f.Path).Order());

        var versions = store.ListVersions(alice, "docs/a.txt");
        Assert.Equal([1UL, 2UL, 3UL], versions.Versions.Select(v => v.Version).Order());
        Assert.Equal("test", versions.Versions[0].ModifiedBy);

        var changes = await store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None);
        Assert.Equal(
            [ChangeKind.Upsert, ChangeKind.Upsert, ChangeKind.Upsert, ChangeKind.Upsert, ChangeKind.Upsert, ChangeKind.Delete, ChangeKind.Move, ChangeKind.Folder],
            changes.Changes.Select(c => c.Kind));
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (ulong)i), changes.Changes.Select(c => c.Sequence));
        var move = changes.Changes[6];
        Assert.Equal(("b.bin", "moved/b.bin"), (move.OldPath, move.Entry.Path));

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
    public void Opening_a_folder_of_the_first_release_upgrades_its_schema_once_and_a_second_open_writes_nothing()
    {
        using var dir = new TempFolder();
        CopyFixture(dir);
        using (var engine = RocksEngine.Open(dir.Sub("db")))
        {
            Assert.Equal(0U, StoreSchema.Read(engine));
            var raw = engine.ScanAll(engine.Files).First().Value;
            Assert.Null(StoredFile.Parser.ParseFrom(raw).Entry); // v0: the wire FileEntry sat at field 1
        }

        ulong afterUpgrade;
        using (var store = OpenCopy(dir, copy: false))
        {
            Assert.Equal(StoreSchema.Current, StoreSchema.Read(store.Engine));
            Assert.All(store.Engine.ScanAll(store.Engine.Files), kv => Assert.NotNull(StoredFile.Parser.ParseFrom(kv.Value).Entry));
            Assert.Empty(store.CheckConsistency());
            afterUpgrade = store.Engine.LatestSequence;
        }

        using (var store = OpenCopy(dir, copy: false))
        {
            Assert.Equal(afterUpgrade, store.Engine.LatestSequence);
            Assert.Equal(StoreSchema.Current, StoreSchema.Read(store.Engine));
            var alice = store.ListUsers().Single(u => u.Name == "alice");
            Assert.Equal(5, store.ListFiles(alice, "", includeDeleted: true).Entries.Count);
        }
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
        Assert.Null(StoredFile.Parser.ParseFrom(reopened.ScanAll(reopened.Files).First().Value).Entry);
    }

    [Fact]
    public void A_new_store_starts_at_the_current_schema()
    {
        using var h = new StoreHarness();
        Assert.Equal(StoreSchema.Current, StoreSchema.Read(h.Store.Engine));
    }

    private static void CopyFixture(TempFolder dir)
    {
        var data = dir.Sub("db");
        Directory.CreateDirectory(data);
        foreach (var file in Directory.GetFiles(FixturePath))
        {
            File.Copy(file, Path.Combine(data, Path.GetFileName(file)));
        }
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
