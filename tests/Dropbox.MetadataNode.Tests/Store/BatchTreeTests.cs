using Dropbox.MetadataNode.Domain;
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
    public async Task CommitMany_FilesOverFoldersOfCommittedFiles_AreEachRefusedWhileTheOthersCommit()
    {
        // The check under each path of one call runs on one iterator the call's batch keeps: every file is judged
        // against what is committed, before and after a refused one, and only live entries count.
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "a/b/x", 0, StoreHarness.Chunk(1));
        await h.PutFileAsync(alice, "m/k/y", 0, StoreHarness.Chunk(4));
        var gone = await h.PutFileAsync(alice, "q/y", 0, StoreHarness.Chunk(2));
        await h.Store.DeleteAsync(alice, "q/y", gone.Entry.Version, "dev");
        var c3 = StoreHarness.Chunk(3);
        h.Stored(alice, c3);

        var outcomes = await h.Store.CommitManyAsync(alice,
            [StoreHarness.Upload("a", 0, c3), StoreHarness.Upload("n", 0, c3), StoreHarness.Upload("m/k", 0, c3), StoreHarness.Upload("q", 0, c3)],
            CancellationToken.None);

        Assert.Equal(4, outcomes.Count);
        var refusedA = Assert.IsType<CommitRefused>(outcomes[0]);
        Assert.Equal(ErrorKind.AlreadyExists, refusedA.Kind);
        Assert.Contains("'a' is a folder: 'a/b/x' is under it", refusedA.Message);
        Assert.IsType<Committed>(outcomes[1]);
        var refusedMk = Assert.IsType<CommitRefused>(outcomes[2]);
        Assert.Equal(ErrorKind.AlreadyExists, refusedMk.Kind);
        Assert.Contains("'m/k' is a folder: 'm/k/y' is under it", refusedMk.Message);
        Assert.IsType<Committed>(outcomes[3]); // only a deleted entry under 'q'
        Assert.Equal(4UL, h.Store.GetAccount(alice).FileCount);
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

    [Fact]
    public async Task VisitCommittedFiles_AfterACommitDuringTheBatchsLife_SeesWhatANewIteratorWould()
    {
        // The batch keeps one Files iterator; a commit made while it lives (a nested write under the reentrant lock)
        // must not leave the batch judging paths against the database as it was before.
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "a/x", 0, StoreHarness.Chunk(1));
        var ns = alice.Namespace.Value;
        using var batch = new RecordBatch(h.Store.Engine);
        Assert.Equal(1, CountUnder(batch, ns, "a/"));
        Assert.Equal(0, CountUnder(batch, ns, "b/"));

        await h.PutFileAsync(alice, "b/y", 0, StoreHarness.Chunk(2));

        Assert.Equal(1, CountUnder(batch, ns, "b/"));
        Assert.Equal(1, CountUnder(batch, ns, "a/"));
    }

    private static int CountUnder(RecordBatch batch, string ns, string folder)
    {
        var count = 0;
        batch.VisitCommittedFiles(Keys.FilePrefix(ns, folder), (_, _) =>
        {
            count++;
            return true;
        });
        return count;
    }
}
