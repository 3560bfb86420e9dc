using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>One CommitFiles call may not describe a file with another file beneath it.</summary>
public sealed class BatchTreeTests
{
    [Theory]
    [InlineData("d/child", "d")]
    [InlineData("d", "d/child")]
    [InlineData("a/b/c", "a")]
    public async Task CommitMany_AFileAndAFileBeneathItInOneCall_RefusesTheWholeCallAndWritesNothing(string first, string second)
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var c1 = StoreHarness.Chunk(1);
        var c2 = StoreHarness.Chunk(2);
        h.Stored(alice, c1, c2);

        var ex = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitManyAsync(alice,
            [StoreHarness.Upload("other", 0, c1), StoreHarness.Upload(first, 0, c1), StoreHarness.Upload(second, 0, c2)], CancellationToken.None));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.Contains("is a folder of file", ex.Message);
        Assert.Equal(0UL, h.Store.GetAccount(alice).FileCount);
        Assert.Empty((await h.Store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None)).Changes);
        h.AssertConsistent();
    }

    [Fact]
    public async Task CommitMany_SiblingsAndSharedPrefixes_StillCommit()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var c1 = StoreHarness.Chunk(1);
        h.Stored(alice, c1);

        var response = SyncMapping.ToResponse(await h.Store.CommitManyAsync(alice,
            [StoreHarness.Upload("d/a", 0, c1), StoreHarness.Upload("d/b", 0, c1), StoreHarness.Upload("dd", 0, c1), StoreHarness.Upload("d-x/y", 0, c1)], CancellationToken.None));

        Assert.All(response.Results, r => Assert.Equal(0, r.StatusCode));
        h.AssertConsistent();
    }

    [Fact]
    public async Task Check_ALiveFileBeneathALiveFile_IsReported()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "x", 0, StoreHarness.Chunk(1));
        await h.PutFileAsync(alice, "d/child", 0, StoreHarness.Chunk(2));
        h.AssertConsistent();

        // The state an accepted [d/child, d] batch left behind: 'x' becomes 'd' in every record that names it.
        var ns = alice.Namespace.Value;
        var engine = h.Store.Engine;
        var file = StoredFormat.ReadFile(engine.Get(Keys.File(ns, "x"), engine.Files));
        file.Current = file.Current with { Path = "d" };
        var read = StoredFormat.ReadChange(engine.Get(Keys.Change(ns, 1), engine.Changes));
        var change = read with { Entry = read.Entry! with { Path = "d" } };
        using (var batch = new RecordBatch(engine))
        {
            batch.PutFile(ns, "x", null);
            batch.DeleteVersion(ns, "x", 1);
            batch.PutFile(ns, "d", file);
            batch.PutVersion(ns, file.Current);
            batch.PutChange(ns, change);
            batch.Commit();
        }

        var problems = h.Store.CheckConsistency();

        Assert.Equal(["file (" + ns + ", d/child) is live under 'd', which is a live file"], problems);
    }
}
