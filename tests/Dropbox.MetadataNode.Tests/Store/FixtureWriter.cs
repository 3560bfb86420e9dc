using Dropbox.MetadataNode.Tests.Infrastructure;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// Writes the committed data-folder fixture (Fixtures/metadata-v0) with the code of the day. Run by hand only:
/// <c>DROPBOX_WRITE_METADATA_FIXTURE=/abs/folder dotnet test --filter FullyQualifiedName~FixtureWriter</c>. Without the
/// variable it writes into a temp folder and checks the folder opens again, so it still guards the writer itself.
/// </summary>
public sealed class FixtureWriter
{
    [Fact]
    public async Task The_fixture_writer_produces_a_folder_that_opens_again()
    {
        var target = Environment.GetEnvironmentVariable("DROPBOX_WRITE_METADATA_FIXTURE");
        using var h = new StoreHarness(o => o with { KeepVersions = 3 });
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob", quotaBytes: 1_000_000);
        var c1 = StoreHarness.Chunk(1, 1000);
        var c2 = StoreHarness.Chunk(2, 2000);
        var c3 = StoreHarness.Chunk(3, 3000);

        var a1 = await h.PutFileAsync(alice, "docs/a.txt", 0, c1);
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        var a2 = await h.PutFileAsync(alice, "docs/a.txt", a1.Entry.Version, c1, c2);
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        await h.PutFileAsync(alice, "docs/a.txt", a2.Entry.Version, c2, c3);
        var b = await h.PutFileAsync(alice, "b.bin", 0, c3);
        var gone = await h.PutFileAsync(alice, "old/gone.txt", 0, c2);
        await h.Store.DeleteAsync(alice, "old/gone.txt", gone.Entry.Version, "test");
        await h.Store.MoveAsync(alice, "b.bin", "moved/b.bin", b.Entry.Version, "test");
        await h.Store.CreateFolderAsync(alice, "empty", "test");
        await h.PutFileAsync(bob, "shared.txt", 0, c1);

        if (target is not null)
        {
            h.Store.Dispose();
            CopyTree(h.Options.DataDirectory, target);
        }

        h.Reopen();
        Assert.Equal(["alice", "bob"], h.Store.ListUsers().Select(u => u.Name).Order());
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            var name = Path.GetFileName(file);
            if (name.StartsWith("LOG", StringComparison.Ordinal))
            {
                continue; // RocksDB's text log: not data
            }

            File.Copy(file, Path.Combine(to, name), overwrite: true);
        }
    }
}
