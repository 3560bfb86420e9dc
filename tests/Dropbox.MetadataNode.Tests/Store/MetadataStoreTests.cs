using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Storage;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.Shared.Sync;
using Dropbox.Shared.Tokens;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.MetadataNode.Tests.Store;

public sealed class MetadataStoreTests
{
    [Fact]
    public async Task Commit_NewFile_WritesVersionChangeAndRefcounts()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var c1 = StoreHarness.Chunk(1);
        var c2 = StoreHarness.Chunk(2);

        var result = await h.PutFileAsync(alice, "docs/a.txt", 0, c1, c2);

        Assert.Equal(1UL, result.Sequence);
        Assert.Equal(2000UL, result.Entry.Size);
        Assert.Equal(FileVersion.ComputeContentHash([c1.Id, c2.Id]), result.Entry.ContentHash.ToArray());
        var changes = await h.Store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None);
        Assert.Single(changes.Changes);
        Assert.Equal(ChangeType.Upsert, changes.Changes[0].Kind);
        var account = h.Store.GetAccount(alice);
        Assert.Equal(1UL, account.FileCount);
        Assert.Equal(2000UL, account.TotalBytes);
        h.AssertConsistent();
    }

    [Fact]
    public async Task Plan_AsksOnlyForChunksThisNamespaceDoesNotReference()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var c1 = StoreHarness.Chunk(1);
        var c2 = StoreHarness.Chunk(2);
        await h.PutFileAsync(alice, "a", 0, c1);

        var plan = h.Store.PlanUpload(alice, StoreHarness.Upload("b", 0, c1, c2, c2));

        Assert.Equal([c2.Id], plan.Missing.Select(m => m.ChunkId));
        Assert.Equal(StoreHarness.NodeA, plan.Missing[0].Node.NodeId);
        var token = h.Tokens.Validate(plan.Missing[0].Token, Dropbox.Shared.Tokens.TokenOperation.Put, StoreHarness.NodeA, c2.Id);
        Assert.Equal(alice.Namespace.Value, token.Namespace);
    }

    [Fact]
    public async Task Plan_ChunkHeldOnlyByAnotherNamespace_IsStillAskedFor()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var c1 = StoreHarness.Chunk(1);
        await h.PutFileAsync(alice, "a", 0, c1);

        var plan = h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, c1));

        Assert.Equal([c1.Id], plan.Missing.Select(m => m.ChunkId));
    }

    [Fact]
    public void Plan_AfterOwnUploadEvent_DoesNotAskAgain_ButAnotherNamespaceIsAsked()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        var c1 = StoreHarness.Chunk(1);
        var c2 = StoreHarness.Chunk(2);
        Assert.Equal(2, h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c1, c2)).Missing.Count);

        h.Stored(alice, c1); // the client crashed after uploading c1

        Assert.Equal([c2.Id], h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c1, c2)).Missing.Select(m => m.ChunkId));
        Assert.Equal(2, h.Store.PlanUpload(bob, StoreHarness.Upload("a", 0, c1, c2)).Missing.Count);
    }

    [Fact]
    public async Task Commit_UnconfirmedChunks_IsRefusedListingThem_AndWritesNothing()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var c1 = StoreHarness.Chunk(1);
        var c2 = StoreHarness.Chunk(2);
        h.Stored(alice, c1);

        var ex = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c1, c2), CancellationToken.None));

        Assert.Equal(ErrorKind.NotFound, ex.Kind);
        Assert.Contains(c2.Id.ToString(), ex.Message);
        Assert.DoesNotContain(c1.Id.ToString(), ex.Message);
        Assert.Equal(c2.Id.ToString(), ex.Details["missing-chunks"]);
        Assert.Equal(0UL, h.Store.GetAccount(alice).FileCount);
        Assert.Empty((await h.Store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None)).Changes);
        h.AssertConsistent();
    }

    [Fact]
    public async Task Commit_BeforeTheEvent_AsksTheNode_ThenWaitsForTheAccountsOwnEvent()
    {
        using var h = new StoreHarness(o => o with { EventWait = TimeSpan.FromSeconds(30) });
        var (alice, _) = h.Store.AddUser("alice");
        var c1 = StoreHarness.Chunk(1);
        Assert.Single(h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c1)).Missing); // the put token
        h.Gateway.Put(StoreHarness.NodeA, c1.Id); // stored; the node's event is still on its way

        var commit = h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c1), CancellationToken.None);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (h.Gateway.HasCalls == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Yield();
        }

        h.Stored(alice, c1); // the event arrives
        var result = await commit.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1UL, result.Sequence);
        Assert.True(h.Gateway.HasCalls > 0);
        h.AssertConsistent();
    }

    [Fact]
    public async Task Commit_AfterThePutTokenExpired_StillWaitsForTheEventOfAPutMadeInTime()
    {
        using var h = new StoreHarness(o => o with { EventWait = TimeSpan.FromSeconds(30) });
        var (alice, _) = h.Store.AddUser("alice");
        var c1 = StoreHarness.Chunk(1);
        h.Store.PlanUpload(alice, StoreHarness.Upload("a", 0, c1));
        h.Gateway.Put(StoreHarness.NodeA, c1.Id); // put at the last moment the token allowed
        h.Clock.Advance(h.Options.TokenLifetime + TimeSpan.FromSeconds(1));
        h.Heartbeat(); // node A is live all along (a commit counts an upload's copies on live nodes only)

        var waits = h.Store.EventWaits;
        var commit = h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c1), CancellationToken.None);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (h.Store.EventWaits == waits && !commit.IsCompleted && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        h.Stored(alice, c1); // its event arrives after the token expired
        Assert.Equal(1UL, (await commit.WaitAsync(TimeSpan.FromSeconds(30))).Sequence);
        Assert.Equal(waits + 1, h.Store.EventWaits);
    }

    [Fact]
    public async Task Commit_WhetherSomeoneElseStoresAChunk_ChangesNeitherTheAnswerNorWhetherTheCommitWaits()
    {
        using var h = new StoreHarness(o => o with { EventWait = TimeSpan.FromMilliseconds(200) });
        var (alice, _) = h.Store.AddUser("alice");
        var (mallory, _) = h.Store.AddUser("mallory");
        var secret = StoreHarness.Chunk(1);
        var nowhere = StoreHarness.Chunk(2);
        await h.PutFileAsync(alice, "secret", 0, secret);

        // Never asked to upload either: both fail at once, alike (no wait that only a stored chunk would cause).
        var waits = h.Store.EventWaits;
        var held = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("x", 0, secret), CancellationToken.None));
        var absent = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("y", 0, nowhere), CancellationToken.None));
        Assert.Equal(waits, h.Store.EventWaits);
        Assert.Equal((held.Kind, string.Join(",", held.Details.Keys.Order())), (absent.Kind, string.Join(",", absent.Details.Keys.Order())));

        // Given put tokens but never uploading: both wait for mallory's own event, alike, then fail alike.
        h.Store.PlanUpload(mallory, StoreHarness.Upload("x", 0, secret));
        h.Store.PlanUpload(mallory, StoreHarness.Upload("y", 0, nowhere));
        await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("x", 0, secret), CancellationToken.None));
        Assert.Equal(waits + 1, h.Store.EventWaits);
        await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("y", 0, nowhere), CancellationToken.None));
        Assert.Equal(waits + 2, h.Store.EventWaits);
    }

    [Fact]
    public async Task Commit_ANodeConfirmingPresence_DoesNotMakeTheClientsClaimedSizeAFact()
    {
        using var h = new StoreHarness(o => o with { EventWait = TimeSpan.FromMilliseconds(200) });
        var (mallory, _) = h.Store.AddUser("mallory");
        var real = StoreHarness.Chunk(7, size: 1000);
        var claimed = ChunkRef.Raw(real.Id, 999);
        h.Gateway.Put(StoreHarness.NodeA, real.Id); // on a node, no record yet (its event is still on the way)
        h.Store.PlanUpload(mallory, StoreHarness.Upload("x", 0, claimed));

        await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("x", 0, claimed), CancellationToken.None));

        var record = Dropbox.MetadataNode.Storage.Records.ChunkRecord.Parser.ParseFrom(h.Store.Engine.Get(Keys.Chunk(real.Id), h.Store.Engine.Chunks));
        Assert.True(h.Gateway.HasCalls > 0); // the node was asked
        Assert.NotEqual(999u, record.Size);
        Assert.Equal(0u, record.Size); // unknown until a node reports the chunk it stored
    }

    [Fact]
    public async Task Commit_ChunkOnlyAnotherAccountUploaded_CannotBeClaimedByItsHash()
    {
        using var h = new StoreHarness(o => o with { EventWait = TimeSpan.FromMilliseconds(200) });
        var (alice, _) = h.Store.AddUser("alice");
        var (mallory, _) = h.Store.AddUser("mallory");
        var secret = StoreHarness.Chunk(1);
        await h.PutFileAsync(alice, "secret", 0, secret);

        var ex = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("stolen", 0, secret), CancellationToken.None));

        Assert.Equal(ErrorKind.NotFound, ex.Kind);
        Assert.Equal(secret.Id.ToString(), ex.Details["missing-chunks"]);
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<DropboxException>(() => h.Store.GetDownloadPlan(mallory, "stolen", 0)).Kind);

        h.Stored(mallory, secret); // mallory really uploads the bytes (the node re-hashes them): now it is hers too
        Assert.Equal(1UL, (await h.Store.CommitAsync(mallory, StoreHarness.Upload("stolen", 0, secret), CancellationToken.None)).Sequence);
    }

    [Fact]
    public async Task Commit_StaleBase_IsConflictCarryingCurrentVersion()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var v1 = await h.PutFileAsync(alice, "a", 0, StoreHarness.Chunk(1));
        var v2 = await h.PutFileAsync(alice, "a", v1.Sequence, StoreHarness.Chunk(2));

        var ex = await Assert.ThrowsAsync<DropboxException>(() => h.PutFileAsync(alice, "a", v1.Sequence, StoreHarness.Chunk(3)));
        var ex0 = await Assert.ThrowsAsync<DropboxException>(() => h.PutFileAsync(alice, "a", 0, StoreHarness.Chunk(4)));

        Assert.Equal(ErrorKind.Conflict, ex.Kind);
        Assert.Equal(v2.Sequence.ToString(), ex.Details["current-version"]);
        Assert.Equal(ErrorKind.Conflict, ex0.Kind);
        Assert.True(h.Store.PlanUpload(alice, StoreHarness.Upload("a", v1.Sequence, StoreHarness.Chunk(3))).Conflict);
        h.AssertConsistent();
    }

    [Fact]
    public async Task Commit_IdenticalRetry_ReturnsCurrentWithoutNewVersion()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var v1 = await h.PutFileAsync(alice, "a", 0, StoreHarness.Chunk(1));

        var again = await h.PutFileAsync(alice, "a", 0, StoreHarness.Chunk(1));

        Assert.Equal(v1.Sequence, again.Sequence);
        Assert.Equal(1UL, h.Store.GetAccount(alice).FileCount);
    }

    [Fact]
    public async Task Commit_OverTombstone_IsAcceptedWhateverTheBase()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var v1 = await h.PutFileAsync(alice, "a", 0, StoreHarness.Chunk(1));
        await h.Store.DeleteAsync(alice, "a", 0, "test");

        var resurrected = await h.PutFileAsync(alice, "a", v1.Sequence, StoreHarness.Chunk(2));

        Assert.Equal(3UL, resurrected.Sequence);
        h.AssertConsistent();
    }

    [Fact]
    public async Task DeleteMoveRestore_KeepHistoryAndOneChangeEach()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var c1 = StoreHarness.Chunk(1);
        var v1 = await h.PutFileAsync(alice, "a.txt", 0, c1);

        var moved = await h.Store.MoveAsync(alice, "a.txt", "b/c.txt", v1.Sequence, "test");
        var deleted = await h.Store.DeleteAsync(alice, "b/c.txt", moved.Sequence, "test");
        var restored = await h.Store.RestoreAsync(alice, "b/c.txt", 0, "test");

        var changes = (await h.Store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None)).Changes;
        Assert.Equal([ChangeType.Upsert, ChangeType.Move, ChangeType.Delete, ChangeType.Upsert], changes.Select(c => c.Kind));
        Assert.Equal("a.txt", changes[1].OldPath);
        Assert.Equal("b/c.txt", changes[1].Entry!.Path);
        Assert.Equal(deleted + 1, restored.Sequence);
        Assert.Equal(v1.Entry.ContentHash.ToArray(), restored.Entry.ContentHash.ToArray());
        Assert.Empty(h.Store.PlanUpload(alice, StoreHarness.Upload("x", 0, c1)).Missing);
        var history = h.Store.ListVersions(alice, "b/c.txt");
        Assert.Equal([restored.Sequence, deleted, moved.Sequence], history.Select(v => v.Version));
        Assert.True(h.Store.ListVersions(alice, "a.txt")[0].Deleted);
        var oldRestored = await h.Store.RestoreAsync(alice, "a.txt", v1.Sequence, "test");
        Assert.Equal(2UL, h.Store.GetAccount(alice).FileCount);
        Assert.Equal("a.txt", oldRestored.Entry.Path);
        h.AssertConsistent();
    }

    [Fact]
    public async Task DeleteAndMove_StaleBase_AreConflicts()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var v1 = await h.PutFileAsync(alice, "a", 0, StoreHarness.Chunk(1));
        var v2 = await h.PutFileAsync(alice, "a", v1.Sequence, StoreHarness.Chunk(2));

        var del = await Assert.ThrowsAsync<DropboxException>(() => h.Store.DeleteAsync(alice, "a", v1.Sequence, "t"));
        var mv = await Assert.ThrowsAsync<DropboxException>(() => h.Store.MoveAsync(alice, "a", "b", v1.Sequence, "t"));

        Assert.Equal(ErrorKind.Conflict, del.Kind);
        Assert.Equal(v2.Sequence.ToString(), del.Details["current-version"]);
        Assert.Equal(ErrorKind.Conflict, mv.Kind);
    }

    [Fact]
    public async Task ListFiles_pages_return_every_entry_once_in_path_order_with_the_cursor_of_each_page()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var paths = new[] { "a", "b/1", "b/2", "b/3", "c", "d/x", "e" };
        foreach (var (p, i) in paths.Select((p, i) => (p, i)))
        {
            await h.PutFileAsync(alice, p, 0, StoreHarness.Chunk((byte)(i + 1)));
        }

        await h.Store.DeleteAsync(alice, "c", 0, "t");

        var live = Page(limit: 2);
        Assert.Equal(["a", "b/1", "b/2", "b/3", "d/x", "e"], live);
        Assert.Equal(["a", "b/1", "b/2", "b/3", "c", "d/x", "e"], Page(limit: 3, includeDeleted: true));
        Assert.Equal(["b/1", "b/2", "b/3"], Page(limit: 2, prefix: "b"));

        var all = h.Store.ListFiles(alice, "", false);
        Assert.False(all.HasMore);
        Assert.Equal(live, all.Entries.Select(e => e.Path));
        var last = h.Store.ListFiles(alice, "", false, limit: 2, startAfter: "d/x");
        Assert.Equal(["e"], last.Entries.Select(e => e.Path));
        Assert.False(last.HasMore);
        Assert.Equal(all.Cursor, last.Cursor);
        Assert.Equal(["b/1"], h.Store.ListFiles(alice, "b", false, limit: 1, startAfter: "a").Entries.Select(e => e.Path)); // before the prefix: from its start

        List<string> Page(uint limit, bool includeDeleted = false, string prefix = "")
        {
            var got = new List<string>();
            var after = string.Empty;
            for (var i = 0; i < 100; i++)
            {
                var page = h.Store.ListFiles(alice, prefix, includeDeleted, limit, after);
                Assert.InRange(page.Entries.Count, 0, (int)limit);
                got.AddRange(page.Entries.Select(e => e.Path));
                if (!page.HasMore)
                {
                    return got;
                }

                after = page.Entries[^1].Path;
            }

            throw new InvalidOperationException("the listing never ended");
        }
    }

    [Fact]
    public async Task FolderDelete_OnlyIfEmpty_RefusesWhileAnythingLiveIsUnder_AndChangesNothing()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.Store.CreateFolderAsync(alice, "f", "t");
        await h.Store.CreateFolderAsync(alice, "f/empty", "t");
        await h.PutFileAsync(alice, "f/x", 0, StoreHarness.Chunk(1));
        var before = h.Store.ListFiles(alice, "", true);

        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.DeleteAsync(alice, "f", 0, "t", onlyIfEmpty: true));

        Assert.Equal(ErrorKind.Conflict, refused.Kind);
        Assert.Contains("not empty", refused.Message, StringComparison.Ordinal);
        Assert.Equal(before.Cursor, h.Store.ListFiles(alice, "", true).Cursor);
        Assert.Equal(["f", "f/empty", "f/x"], h.Store.ListFiles(alice, "", false).Entries.Select(e => e.Path).Order());
        await h.Store.DeleteAsync(alice, "f/empty", 0, "t", onlyIfEmpty: true); // an empty folder goes
        await h.Store.DeleteAsync(alice, "f/x", 0, "t");
        await h.Store.DeleteAsync(alice, "f", 0, "t", onlyIfEmpty: true);
        Assert.Empty(h.Store.ListFiles(alice, "", false).Entries);
        h.AssertConsistent();
    }

    [Fact]
    public async Task ADeleteMeantForAFolder_IsRefusedOnAFileAtThatPath_AndTheReverse_AndChangesNothing()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.Store.CreateFolderAsync(alice, "x", "a");
        await h.Store.DeleteAsync(alice, "x", 0, "a");
        await h.PutFileAsync(alice, "x", 0, StoreHarness.Chunk(1)); // device A: folder x became file x
        await h.Store.CreateFolderAsync(alice, "d", "a");
        var before = h.Store.ListFiles(alice, "", true);

        // Device B still has x as an empty folder (base version 0: it may not know the folder's version).
        var asFolder = await Assert.ThrowsAsync<DropboxException>(() => h.Store.DeleteAsync(alice, "x", 0, "b", onlyIfEmpty: true));
        var byKind = await Assert.ThrowsAsync<DropboxException>(() => h.Store.DeleteAsync(alice, "x", 0, "b", expectedKind: PathKind.Folder));
        var asFile = await Assert.ThrowsAsync<DropboxException>(() => h.Store.DeleteAsync(alice, "d", 0, "b", expectedKind: PathKind.File));
        var contradictory = await Assert.ThrowsAsync<DropboxException>(() => h.Store.DeleteAsync(alice, "d", 0, "b", onlyIfEmpty: true, expectedKind: PathKind.File));

        Assert.Equal(ErrorKind.Conflict, asFolder.Kind);
        Assert.Contains("is now a file", asFolder.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorKind.Conflict, byKind.Kind);
        Assert.Equal(ErrorKind.Conflict, asFile.Kind);
        Assert.Contains("is now a folder", asFile.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorKind.InvalidArgument, contradictory.Kind);
        Assert.Equal(before.Cursor, h.Store.ListFiles(alice, "", true).Cursor);
        Assert.Equal([("d", PathKind.Folder), ("x", PathKind.File)], h.Store.ListFiles(alice, "", false).Entries.Select(e => (e.Path, e.Kind)).Order());
        await h.Store.DeleteAsync(alice, "x", 0, "b", expectedKind: PathKind.File);
        await h.Store.DeleteAsync(alice, "d", 0, "b", onlyIfEmpty: true);
        Assert.Empty(h.Store.ListFiles(alice, "", false).Entries);
        h.AssertConsistent();
    }

    [Fact]
    public async Task AFolderImpliedByItsEntries_IsNeverCoveredByAFile_NorLandedOnByAMove()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "d/x", 0, StoreHarness.Chunk(1)); // "d" has no entry of its own
        var f = await h.PutFileAsync(alice, "f", 0, StoreHarness.Chunk(2));
        var gone = await h.PutFileAsync(alice, "e", 0, StoreHarness.Chunk(3));
        await h.Store.DeleteAsync(alice, "e", gone.Sequence, "t");
        await h.PutFileAsync(alice, "e/y", 0, StoreHarness.Chunk(4));
        await h.Store.CreateFolderAsync(alice, "g", "t");
        await h.PutFileAsync(alice, "g/x", 0, StoreHarness.Chunk(5));
        var before = h.Store.ListFiles(alice, "", true);

        var commit = await Assert.ThrowsAsync<DropboxException>(() => h.PutFileAsync(alice, "d", 0, StoreHarness.Chunk(6)));
        var restore = await Assert.ThrowsAsync<DropboxException>(() => h.Store.RestoreAsync(alice, "e", gone.Sequence, "t"));
        var moveFile = await Assert.ThrowsAsync<DropboxException>(() => h.Store.MoveAsync(alice, "f", "d", f.Sequence, "t"));
        var moveFolder = await Assert.ThrowsAsync<DropboxException>(() => h.Store.MoveAsync(alice, "g", "d", 0, "t")); // would write over d/x

        Assert.All([commit, restore, moveFile, moveFolder], e => Assert.Equal(ErrorKind.AlreadyExists, e.Kind));
        Assert.Contains("'d/x' is under it", commit.Message, StringComparison.Ordinal);
        var after = h.Store.ListFiles(alice, "", true);
        Assert.Equal(before.Cursor, after.Cursor);
        Assert.Equal(before.Entries.Select(e => (e.Path, e.Version)), after.Entries.Select(e => (e.Path, e.Version)));
        h.AssertConsistent();
    }

    [Fact]
    public async Task FolderMoveAndDelete_CarryEveryEntryAtomically()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.Store.CreateFolderAsync(alice, "f", "t");
        await h.PutFileAsync(alice, "f/x", 0, StoreHarness.Chunk(1));
        await h.PutFileAsync(alice, "f/sub/y", 0, StoreHarness.Chunk(2));

        await h.Store.MoveAsync(alice, "f", "g", 0, "t");

        Assert.Equal(["g", "g/sub/y", "g/x"], h.Store.ListFiles(alice, "", false).Entries.Select(e => e.Path).Order());
        await h.Store.DeleteAsync(alice, "g", 0, "t");
        Assert.Empty(h.Store.ListFiles(alice, "", false).Entries);
        Assert.Equal(0UL, h.Store.GetAccount(alice).FileCount);
        h.AssertConsistent();
    }

    [Fact]
    public async Task ListChanges_Paging_NoneSkippedNoneRepeated()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        for (var i = 0; i < 57; i++)
        {
            await h.PutFileAsync(alice, $"f{i}", 0, StoreHarness.Chunk(i));
        }

        var seen = new List<ulong>();
        string? cursor = null;
        for (var page = 0; page < 100; page++)
        {
            var response = await h.Store.ListChangesAsync(alice, cursor, 10, 0, CancellationToken.None);
            seen.AddRange(response.Changes.Select(c => c.Sequence));
            cursor = response.Cursor;
            if (!response.HasMore)
            {
                break;
            }
        }

        Assert.Equal(Enumerable.Range(1, 57).Select(i => (ulong)i), seen);
        Assert.Empty((await h.Store.ListChangesAsync(alice, cursor, 10, 0, CancellationToken.None)).Changes);
    }

    [Fact]
    public async Task ListChanges_ForeignUnknownOrFutureCursor_IsRefusedWithReset()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        await h.PutFileAsync(alice, "a", 0, StoreHarness.Chunk(1));
        var aliceCursor = (await h.Store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None)).Cursor;
        var parsed = ChangeCursor.Parse(aliceCursor);

        var foreign = await Assert.ThrowsAsync<DropboxException>(() => h.Store.ListChangesAsync(bob, aliceCursor, 0, 0, CancellationToken.None));
        var garbage = await Assert.ThrowsAsync<DropboxException>(() => h.Store.ListChangesAsync(alice, "not-a-cursor!", 0, 0, CancellationToken.None));
        var future = await Assert.ThrowsAsync<DropboxException>(() => h.Store.ListChangesAsync(alice, (parsed with { Sequence = 99 }).ToString(), 0, 0, CancellationToken.None));
        var epoch = await Assert.ThrowsAsync<DropboxException>(() => h.Store.ListChangesAsync(alice, (parsed with { Epoch = parsed.Epoch + 2 }).ToString(), 0, 0, CancellationToken.None));

        Assert.Equal(ErrorKind.InvalidArgument, foreign.Kind);
        Assert.Equal(ErrorKind.InvalidArgument, garbage.Kind);
        Assert.Equal(ErrorKind.Conflict, future.Kind);
        Assert.Equal(ErrorKind.Conflict, epoch.Kind);
        Assert.All(new[] { foreign, garbage, future, epoch }, e => Assert.Contains("Reset", e.Message));
    }

    [Fact]
    public async Task ListChanges_LongPoll_WakesOnCommit()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var head = (await h.Store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None)).Cursor;

        var poll = h.Store.ListChangesAsync(alice, head, 0, 60, CancellationToken.None);
        Assert.False(poll.IsCompleted);
        await h.PutFileAsync(alice, "a", 0, StoreHarness.Chunk(1));
        var response = await poll.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Single(response.Changes);
    }

    [Fact]
    public async Task ListChanges_LongPoll_IsAnsweredAtOnceWhenTheServerStops()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");

        var poll = h.Store.ListChangesAsync(alice, null, 0, 300, CancellationToken.None);
        h.Store.ReleaseWaiters();
        var response = await poll.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(response.Changes);
        Assert.False(string.IsNullOrEmpty(response.Cursor));
    }

    [Fact]
    public async Task Reopen_AfterChanges_StateAndCursorsSurvive()
    {
        using var h = new StoreHarness();
        var (alice, token) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "a", 0, StoreHarness.Chunk(1));
        var cursor = (await h.Store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None)).Cursor;

        h.Reopen();

        Assert.Equal(alice, h.Store.Authenticate(token));
        await h.PutFileAsync(alice, "b", 0, StoreHarness.Chunk(2));
        var next = await h.Store.ListChangesAsync(alice, cursor, 0, 0, CancellationToken.None);
        Assert.Equal([2UL], next.Changes.Select(c => c.Sequence));
        h.AssertConsistent();
    }

    [Fact]
    public async Task Reopen_AfterAnUncleanStop_EveryCursorResets_AndTheDataSurvives()
    {
        using var h = new StoreHarness();
        var (alice, token) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        await h.PutFileAsync(alice, "a", 0, StoreHarness.Chunk(1));
        var aliceCursor = (await h.Store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None)).Cursor;
        var bobCursor = (await h.Store.ListChangesAsync(bob, null, 0, 0, CancellationToken.None)).Cursor;

        h.Reopen(unclean: true); // as after a crash: changes read before their fsync may be gone

        var stale = await Assert.ThrowsAsync<DropboxException>(() => h.Store.ListChangesAsync(alice, aliceCursor, 0, 0, CancellationToken.None));
        Assert.Equal(ErrorKind.Conflict, stale.Kind);
        Assert.Contains("Reset", stale.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorKind.Conflict, (await Assert.ThrowsAsync<DropboxException>(() => h.Store.ListChangesAsync(bob, bobCursor, 0, 0, CancellationToken.None))).Kind);
        Assert.Equal(alice, h.Store.Authenticate(token));
        Assert.Equal(["a"], h.Store.ListFiles(alice, "", false).Entries.Select(e => e.Path));
        var fresh = (await h.Store.ListChangesAsync(alice, null, 0, 0, CancellationToken.None)).Cursor;

        h.Reopen(); // a clean stop keeps cursors
        Assert.Empty((await h.Store.ListChangesAsync(alice, fresh, 0, 0, CancellationToken.None)).Changes);
        h.AssertConsistent();
    }

    [Fact]
    public void Authenticate_UnknownToken_IsUnauthenticated()
    {
        using var h = new StoreHarness();
        h.Store.AddUser("alice");

        Assert.Equal(ErrorKind.Unauthenticated, Assert.Throws<DropboxException>(() => h.Store.Authenticate("nope")).Kind);
        Assert.Equal(ErrorKind.Unauthenticated, Assert.Throws<DropboxException>(() => h.Store.Authenticate(null)).Kind);
        Assert.Equal(ErrorKind.AlreadyExists, Assert.Throws<DropboxException>(() => h.Store.AddUser("alice")).Kind);
    }

    [Theory]
    [InlineData("")]
    [InlineData("/abs")]
    [InlineData("a/../b")]
    [InlineData("a//b")]
    [InlineData("a\0b")]
    [InlineData("trailing/")]
    public async Task BadPath_IsInvalidArgument_AndWritesNothing(string path)
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        h.Stored(alice, StoreHarness.Chunk(1));

        var ex = Assert.Throws<DropboxException>(() => StoreHarness.Upload(path, 0, StoreHarness.Chunk(1)));
        var del = await Assert.ThrowsAsync<DropboxException>(() => h.Store.DeleteAsync(alice, path, 0, "t"));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.Equal(ErrorKind.InvalidArgument, del.Kind);
        Assert.Equal(0UL, ChangeCursor.Parse(h.Store.GetAccount(alice).Cursor).Sequence);
    }

    [Fact]
    public void BadSizesAndIds_AreInvalidArgument()
    {
        var good = StoreHarness.Chunk(1).ToProto();
        var badId = good.Clone();
        badId.Id = Google.Protobuf.ByteString.CopyFrom(new byte[5]);
        var zero = good.Clone();
        zero.Size = 0;
        var badEncoding = good.Clone();
        badEncoding.Encoding = (Proto.ChunkEncoding)7;

        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<DropboxException>(() => FileUploadOf(999, good)).Kind);
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<DropboxException>(() => FileUploadOf(1000, badId)).Kind);
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<DropboxException>(() => FileUploadOf(0, zero)).Kind);
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<DropboxException>(() => FileUploadOf(1000, badEncoding)).Kind);
        var tooMany = Enumerable.Repeat(good, Domain.Limits.MaxChunksPerFile + 1).ToList();
        Assert.Contains("Too many chunks", Assert.Throws<DropboxException>(() => Domain.FileUpload.Create("a", 0, 0, new Services.Mapping.WireChunks(tooMany), 0, "")).Message);

        static Domain.FileUpload FileUploadOf(ulong size, Proto.ChunkRef chunk) => Domain.FileUpload.Create("a", size, 0, new Services.Mapping.WireChunks([chunk]), 0, "");
    }

    [Fact]
    public async Task Commit_ChunkSizeDisagreeingWithNode_IsInvalidArgument()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var c = StoreHarness.Chunk(1, 1000);
        h.Stored(alice, c);

        var ex = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(alice, StoreHarness.Upload("a", 0, c with { Size = 999, StoredSize = 999 }), CancellationToken.None));

        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        h.AssertConsistent();
    }

    [Fact]
    public async Task Users_SeeNothingOfEachOther()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        await h.PutFileAsync(alice, "secret.txt", 0, StoreHarness.Chunk(1));

        Assert.Empty(h.Store.ListFiles(bob, "", true).Entries);
        Assert.Empty((await h.Store.ListChangesAsync(bob, null, 0, 0, CancellationToken.None)).Changes);
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<DropboxException>(() => h.Store.GetDownloadPlan(bob, "secret.txt", 0)).Kind);
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<DropboxException>(() => h.Store.GetDownloadPlan(bob, "secret.txt", 1)).Kind);
        Assert.Equal(ErrorKind.NotFound, Assert.Throws<DropboxException>(() => h.Store.ListVersions(bob, "secret.txt")).Kind);
        await Assert.ThrowsAsync<DropboxException>(() => h.Store.DeleteAsync(bob, "secret.txt", 0, "t"));
        Assert.Equal(1UL, h.Store.GetAccount(alice).FileCount);
    }

    [Fact]
    public async Task DownloadPlan_ListsNodesAndGetTokensCoveringEachChunk()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Enumerable.Range(0, 20).Select(i => StoreHarness.Chunk(i)).ToArray();
        var v1 = await h.PutFileAsync(alice, "big", 0, chunks);
        await h.PutFileAsync(alice, "big", v1.Sequence, StoreHarness.Chunk(99));

        var plan = SyncMapping.ToResponse(h.Store.GetDownloadPlan(alice, "big", v1.Sequence));

        Assert.Equal(chunks.Select(c => c.Id), plan.Chunks.Select(c => c.Chunk.Id.ToChunkId()));
        foreach (var get in plan.Chunks)
        {
            Assert.Equal(StoreHarness.NodeA, Assert.Single(get.Nodes).NodeId);
            var token = h.Tokens.Validate(Assert.Single(get.Tokens), Dropbox.Shared.Tokens.TokenOperation.Get, StoreHarness.NodeA, get.Chunk.Id.ToChunkId());
            Assert.Equal(alice.Namespace.Value, token.Namespace);
        }
    }

    [Fact]
    public async Task DownloadPlans_OfManyFiles_ShareTokensThatCoverChunksOfSeveralFiles_AndAGoneFileHasNoEntry()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var n = Dropbox.MetadataNode.Domain.Limits.ChunksPerGetToken + 4;
        for (var i = 0; i < n; i++)
        {
            await h.PutFileAsync(alice, $"d/f{i:D2}", 0, StoreHarness.Chunk(i));
        }

        var deleted = await h.PutFileAsync(alice, "gone", 0, StoreHarness.Chunk(n + 50));
        await h.Store.DeleteAsync(alice, "gone", deleted.Sequence, "t");
        var request = Enumerable.Range(0, n).Select(i => new GetDownloadPlanRequest { Path = $"d/f{i:D2}" }).ToList();
        request.Insert(3, new GetDownloadPlanRequest { Path = "gone" });
        request.Add(new GetDownloadPlanRequest { Path = "never-was" });

        var plans = SyncMapping.ToResponse(await h.Store.GetDownloadPlansAsync(alice, SyncMapping.ToDomain(request), CancellationToken.None));

        Assert.Equal(n + 2, plans.Plans.Count);
        Assert.Null(plans.Plans[3].Entry);
        Assert.Null(plans.Plans[n + 1].Entry);
        var files = plans.Plans.Where(p => p.Entry is not null).ToList();
        Assert.Equal(Enumerable.Range(0, n).Select(i => $"d/f{i:D2}"), files.Select(p => p.Entry.Path));
        // One token more one-chunk files on one node than a token covers: two tokens, each covering chunks of many files.
        Assert.Equal(StoreHarness.NodeA, Assert.Single(plans.Nodes).NodeId);
        Assert.Equal(2, plans.Tokens.Count);
        for (var i = 0; i < files.Count; i++)
        {
            var get = Assert.Single(files[i].Chunks);
            Assert.Equal(StoreHarness.Chunk(i).Id, get.Chunk.Id.ToChunkId());
            Assert.False(files[i].HasMore);
            Assert.Empty(files[i].Tokens);
            var token = h.Tokens.Validate(plans.Tokens[(int)Assert.Single(get.TokenIndexes)], Dropbox.Shared.Tokens.TokenOperation.Get, StoreHarness.NodeA, get.Chunk.Id.ToChunkId());
            Assert.Equal(alice.Namespace.Value, token.Namespace);
        }
    }

    [Fact]
    public async Task DownloadPlans_OfAnotherAccountsFile_AreEmpty_AndTooManyFilesAreRefused()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var (bob, _) = h.Store.AddUser("bob");
        await h.PutFileAsync(alice, "secret.txt", 0, StoreHarness.Chunk(1));

        var plans = SyncMapping.ToResponse(await h.Store.GetDownloadPlansAsync(bob, [new DownloadRequest("secret.txt", 0, 0)], CancellationToken.None));
        var tooMany = await Assert.ThrowsAsync<DropboxException>(() => h.Store.GetDownloadPlansAsync(alice, Enumerable.Range(0, 1001).Select(i => new DownloadRequest($"f{i}", 0, 0)).ToList(), CancellationToken.None));
        var bad = await Assert.ThrowsAsync<DropboxException>(() => h.Store.GetDownloadPlansAsync(alice, [new DownloadRequest("../escape", 0, 0)], CancellationToken.None));

        Assert.Null(Assert.Single(plans.Plans).Entry);
        Assert.Empty(plans.Tokens);
        Assert.Equal(ErrorKind.ResourceExhausted, tooMany.Kind);
        Assert.Equal(ErrorKind.InvalidArgument, bad.Kind);
    }

    [Fact]
    public void Keys_VersionPrefixOfOnePath_DoesNotMatchAnother()
    {
        var prefix = Keys.VersionPrefix("ns", "a");
        Assert.False(Keys.Version("ns", "a/b", 1).AsSpan().StartsWith(prefix));
        Assert.False(Keys.Version("ns", "ab", 1).AsSpan().StartsWith(prefix));
        Assert.True(Keys.Version("ns", "a", 1).AsSpan().StartsWith(prefix));
        Assert.Equal(("ns", "a/b", 7UL), Keys.ParseVersionKey(Keys.Version("ns", "a/b", 7)));
    }

    [Fact]
    public void The_metadata_and_key_folders_are_owner_only_and_files_from_before_are_made_0600()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var h = new StoreHarness();
        h.Store.AddUser("alice");
        var db = h.Options.DataDirectory;
        var keys = h.Options.KeysDirectory;
        File.SetUnixFileMode(db, (UnixFileMode)0b111_101_101);
        var someFile = Path.Combine(db, "left-by-an-old-version");
        File.WriteAllText(someFile, "x");
        File.SetUnixFileMode(someFile, (UnixFileMode)0b110_100_100);
        File.SetUnixFileMode(keys, (UnixFileMode)0b111_101_101);

        h.Reopen();
        ChunkTokenService.ForKeyDirectory(keys);

        const UnixFileMode folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        Assert.Equal(folder, File.GetUnixFileMode(db));
        Assert.Equal(folder, File.GetUnixFileMode(keys));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(someFile));
    }
}
