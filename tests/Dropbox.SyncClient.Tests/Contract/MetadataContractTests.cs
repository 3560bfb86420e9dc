using System.Globalization;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Remote;

namespace Dropbox.SyncClient.Tests.Contract;

/// <summary>
/// The metadata contract as the client relies on it, run against every implementation (restic's one suite for every
/// backend): the real metadata node over gRPC with a real storage node, and the client tests' <see cref="FakeServer"/>,
/// so the fake cannot drift from the rules it stands in for. A scenario here states what the client depends on; where
/// the two disagree, the real node is right and the fake is fixed.
/// </summary>
public abstract class MetadataContractTests : IAsyncLifetime
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromMinutes(2));
    private ContractTarget? _target;
    private int _nextChunk;

    private IMetadataRemote Remote => _target!.Remote;

    private CancellationToken Ct => _timeout.Token;

    public async Task InitializeAsync() => _target = await StartAsync(Ct);

    public async Task DisposeAsync()
    {
        if (_target is not null)
        {
            await _target.DisposeAsync();
        }

        _timeout.Dispose();
    }

    [Fact]
    public async Task A_new_file_is_planned_put_committed_listed_and_downloaded()
    {
        var chunks = NewChunks(2);
        var plan = await Remote.PlanUploadAsync(Plan("a.txt", chunks), Ct);
        Assert.False(plan.Conflict);
        Assert.Equal(0UL, plan.CurrentVersion);
        Assert.Equal(chunks.Select(c => c.Id), plan.Missing.Select(m => m.ChunkId.ToChunkId()));

        await PutAsync(plan, chunks);
        var committed = await Remote.CommitFileAsync(Commit("a.txt", chunks), Ct);

        Assert.Equal("a.txt", committed.Entry.Path);
        Assert.True(committed.Entry.Version > 0);
        Assert.Equal((ulong)chunks.Sum(c => c.Bytes.Length), committed.Entry.Size);
        Assert.Equal(chunks.Select(c => c.Id), committed.Entry.Chunks.Select(c => c.Id.ToChunkId()));
        Assert.Equal(FileVersion.ComputeContentHash(chunks.Select(c => c.Id)), committed.Entry.ContentHash.ToByteArray());
        Assert.Equal("contract", committed.Entry.ModifiedBy);

        var listed = await Remote.ListFilesAsync(new ListFilesRequest(), Ct);
        var entry = Assert.Single(listed.Entries);
        Assert.Equal(("a.txt", committed.Entry.Version), (entry.Path, entry.Version));

        Assert.Equal(chunks.Select(c => c.Bytes), await DownloadAsync("a.txt"));
    }

    [Fact]
    public async Task Chunks_an_account_stored_once_are_not_asked_for_again()
    {
        var chunks = NewChunks(2);
        await UploadAsync("a.txt", chunks);

        // The same chunks under another path, and a chunk listed twice in one plan: asked for at most once.
        var again = await Remote.PlanUploadAsync(Plan("b.txt", chunks), Ct);
        Assert.Empty(again.Missing);
        var fresh = NewChunks(1)[0];
        var twice = await Remote.PlanUploadAsync(Plan("c.txt", [fresh, fresh]), Ct);
        Assert.Equal([fresh.Id], twice.Missing.Select(m => m.ChunkId.ToChunkId()));

        // Committing the deduplicated file needs no put.
        var b = await Remote.CommitFileAsync(Commit("b.txt", chunks), Ct);
        Assert.Equal(chunks.Select(c => c.Bytes), await DownloadAsync("b.txt"));
        Assert.True(b.Entry.Version > 0);
    }

    [Fact]
    public async Task A_commit_on_a_stale_base_version_is_a_conflict_naming_the_current_version()
    {
        var v1 = await UploadAsync("a.txt", NewChunks(1));
        var chunks = NewChunks(1);

        var plan = await Remote.PlanUploadAsync(Plan("a.txt", chunks, baseVersion: 0), Ct);
        Assert.True(plan.Conflict);
        Assert.Equal(v1.Version, plan.CurrentVersion);

        await PutAsync(plan, chunks);
        var e = await Assert.ThrowsAsync<DropboxException>(() => Remote.CommitFileAsync(Commit("a.txt", chunks, baseVersion: 0), Ct));
        Assert.Equal(ErrorKind.Conflict, e.Kind);
        Assert.Equal(v1.Version.ToString(CultureInfo.InvariantCulture), e.Details[RemoteErrors.CurrentVersion]);

        // On the version it names, the same commit goes through.
        var v2 = await Remote.CommitFileAsync(Commit("a.txt", chunks, baseVersion: v1.Version), Ct);
        Assert.True(v2.Entry.Version > v1.Version);
    }

    [Fact]
    public async Task A_commit_naming_a_chunk_never_stored_is_refused_and_changes_nothing()
    {
        var stored = await UploadAsync("a.txt", NewChunks(1));
        var never = NewChunks(1);

        var e = await Assert.ThrowsAsync<DropboxException>(() => Remote.CommitFileAsync(Commit("a.txt", never, baseVersion: stored.Version), Ct));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
        Assert.Contains(never[0].Id.ToString(), e.Details[RemoteErrors.MissingChunks], StringComparison.OrdinalIgnoreCase);

        var listed = await Remote.ListFilesAsync(new ListFilesRequest(), Ct);
        Assert.Equal(stored.Version, Assert.Single(listed.Entries).Version);
    }

    [Fact]
    public async Task A_delete_removes_the_file_from_listings_and_plans_and_keeps_it_in_history()
    {
        var v1 = await UploadAsync("a.txt", NewChunks(1));

        var stale = await Assert.ThrowsAsync<DropboxException>(() => Remote.DeleteFileAsync(new DeleteFileRequest { Path = "a.txt", BaseVersion = v1.Version + 1000, Device = "contract" }, Ct));
        Assert.Equal(ErrorKind.Conflict, stale.Kind);

        var deleted = await Remote.DeleteFileAsync(new DeleteFileRequest { Path = "a.txt", BaseVersion = v1.Version, Device = "contract" }, Ct);
        Assert.True(deleted.Sequence > v1.Version);

        Assert.Empty((await Remote.ListFilesAsync(new ListFilesRequest(), Ct)).Entries);
        var withDeleted = Assert.Single((await Remote.ListFilesAsync(new ListFilesRequest { IncludeDeleted = true }, Ct)).Entries);
        Assert.True(withDeleted.Deleted);
        var plan = await Assert.ThrowsAsync<DropboxException>(() => Remote.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "a.txt" }, Ct));
        Assert.Equal(ErrorKind.NotFound, plan.Kind);
        var gone = await Assert.ThrowsAsync<DropboxException>(() => Remote.DeleteFileAsync(new DeleteFileRequest { Path = "a.txt", Device = "contract" }, Ct));
        Assert.Equal(ErrorKind.NotFound, gone.Kind);

        var versions = (await Remote.ListVersionsAsync(new ListVersionsRequest { Path = "a.txt" }, Ct)).Versions;
        Assert.Equal(2, versions.Count);
        Assert.True(versions[0].Deleted);
        Assert.Equal(v1.Version, versions[1].Version);
    }

    [Fact]
    public async Task A_move_puts_the_file_at_the_new_path_and_the_feed_names_both_paths()
    {
        var chunks = NewChunks(1);
        var v1 = await UploadAsync("a.txt", chunks);
        await UploadAsync("taken.txt", NewChunks(1));
        var cursor = (await Remote.GetAccountAsync(Ct)).Cursor;

        var onto = await Assert.ThrowsAsync<DropboxException>(() => Remote.MoveFileAsync(new MoveFileRequest { FromPath = "a.txt", ToPath = "taken.txt", BaseVersion = v1.Version, Device = "contract" }, Ct));
        Assert.Equal(ErrorKind.AlreadyExists, onto.Kind);
        var stale = await Assert.ThrowsAsync<DropboxException>(() => Remote.MoveFileAsync(new MoveFileRequest { FromPath = "a.txt", ToPath = "d/b.txt", BaseVersion = v1.Version + 1000, Device = "contract" }, Ct));
        Assert.Equal(ErrorKind.Conflict, stale.Kind);
        var missing = await Assert.ThrowsAsync<DropboxException>(() => Remote.MoveFileAsync(new MoveFileRequest { FromPath = "nothing.txt", ToPath = "d/c.txt", Device = "contract" }, Ct));
        Assert.Equal(ErrorKind.NotFound, missing.Kind);

        var moved = await Remote.MoveFileAsync(new MoveFileRequest { FromPath = "a.txt", ToPath = "d/b.txt", BaseVersion = v1.Version, Device = "contract" }, Ct);
        Assert.Equal("d/b.txt", moved.Entry.Path);
        Assert.Equal(v1.ContentHash, moved.Entry.ContentHash);

        Assert.Equal(["d/b.txt", "taken.txt"], (await Remote.ListFilesAsync(new ListFilesRequest(), Ct)).Entries.Select(e => e.Path));
        Assert.Equal(chunks.Select(c => c.Bytes), await DownloadAsync("d/b.txt"));
        var change = Assert.Single((await Remote.ListChangesAsync(new ListChangesRequest { Cursor = cursor }, Ct)).Changes);
        Assert.Equal((ChangeKind.Move, "a.txt", "d/b.txt"), (change.Kind, change.OldPath, change.Entry.Path));
    }

    [Fact]
    public async Task The_change_feed_gives_changes_in_commit_order_once_each_from_a_cursor()
    {
        var start = (await Remote.GetAccountAsync(Ct)).Cursor;
        var a = await UploadAsync("a.txt", NewChunks(1));
        var b = await UploadAsync("b.txt", NewChunks(1));
        var a2 = await UploadAsync("a.txt", NewChunks(1), a.Version);

        var page = await Remote.ListChangesAsync(new ListChangesRequest { Cursor = start }, Ct);
        Assert.Equal([("a.txt", a.Version), ("b.txt", b.Version), ("a.txt", a2.Version)], page.Changes.Select(c => (c.Entry.Path, c.Entry.Version)));
        Assert.All(page.Changes, c => Assert.Equal(ChangeKind.Upsert, c.Kind));
        Assert.Equal(page.Changes.Select(c => c.Sequence).Order(), page.Changes.Select(c => c.Sequence));
        Assert.False(page.HasMore);

        // From the cursor it returned: nothing again, then only what came after.
        Assert.Empty((await Remote.ListChangesAsync(new ListChangesRequest { Cursor = page.Cursor }, Ct)).Changes);
        var c = await UploadAsync("c.txt", NewChunks(1));
        var next = await Remote.ListChangesAsync(new ListChangesRequest { Cursor = page.Cursor }, Ct);
        Assert.Equal([("c.txt", c.Version)], next.Changes.Select(x => (x.Entry.Path, x.Entry.Version)));

        // A page limit splits the feed without losing or repeating a change.
        var first = await Remote.ListChangesAsync(new ListChangesRequest { Cursor = start, Limit = 2 }, Ct);
        Assert.True(first.HasMore);
        var rest = await Remote.ListChangesAsync(new ListChangesRequest { Cursor = first.Cursor, Limit = 2 }, Ct);
        Assert.Equal(["a.txt", "b.txt", "a.txt", "c.txt"], first.Changes.Concat(rest.Changes).Select(x => x.Entry.Path));
    }

    [Fact]
    public async Task A_long_poll_on_the_change_feed_wakes_up_with_a_change_made_while_it_waits()
    {
        var cursor = (await Remote.GetAccountAsync(Ct)).Cursor;
        var poll = Remote.ListChangesAsync(new ListChangesRequest { Cursor = cursor, WaitSeconds = 60 }, Ct);

        var committed = await UploadAsync("a.txt", NewChunks(1));

        var woke = await poll.WaitAsync(CallTimeout, Ct);
        Assert.Equal([("a.txt", committed.Version)], woke.Changes.Select(c => (c.Entry.Path, c.Entry.Version)));
    }

    [Fact]
    public async Task History_lists_versions_newest_first_and_restore_makes_an_old_one_current_again()
    {
        var oldChunks = NewChunks(1);
        var v1 = await UploadAsync("a.txt", oldChunks);
        var v2 = await UploadAsync("a.txt", NewChunks(2), v1.Version);

        var versions = (await Remote.ListVersionsAsync(new ListVersionsRequest { Path = "a.txt" }, Ct)).Versions;
        Assert.Equal([v2.Version, v1.Version], versions.Select(v => v.Version));

        // An old version stays downloadable by number.
        Assert.Equal(oldChunks.Select(c => c.Bytes), await DownloadAsync("a.txt", v1.Version));

        var restored = await Remote.RestoreAsync(new RestoreRequest { Path = "a.txt", Version = v1.Version, Device = "contract" }, Ct);
        Assert.True(restored.Entry.Version > v2.Version);
        Assert.Equal(v1.ContentHash, restored.Entry.ContentHash);
        Assert.Equal(v1.Size, restored.Entry.Size);
        Assert.Equal(oldChunks.Select(c => c.Bytes), await DownloadAsync("a.txt"));
        Assert.Equal(3, (await Remote.ListVersionsAsync(new ListVersionsRequest { Path = "a.txt" }, Ct)).Versions.Count);

        var none = await Assert.ThrowsAsync<DropboxException>(() => Remote.RestoreAsync(new RestoreRequest { Path = "a.txt", Version = restored.Entry.Version + 1000, Device = "contract" }, Ct));
        Assert.Equal(ErrorKind.NotFound, none.Kind);
    }

    [Fact]
    public async Task A_download_plan_names_every_chunk_in_file_order_with_a_node_and_a_token_also_by_pages()
    {
        var chunks = NewChunks(3);
        var v1 = await UploadAsync("a.txt", chunks);

        var whole = await Remote.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "a.txt" }, Ct);
        Assert.Equal(v1.Version, whole.Entry.Version);
        Assert.Equal(chunks.Select(c => c.Id), whole.Chunks.Select(g => DownloadPlans.Expand(whole, g).Chunk.Id.ToChunkId()));
        Assert.All(whole.Chunks.Select(g => DownloadPlans.Expand(whole, g)), g =>
        {
            Assert.NotEmpty(g.Nodes);
            Assert.Equal(g.Nodes.Count, g.Tokens.Count);
        });

        var page = await Remote.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "a.txt", Offset = 1, Limit = 1 }, Ct);
        Assert.Equal(v1.Version, page.Entry.Version);
        Assert.Equal(3U, page.TotalChunks);
        Assert.True(page.HasMore);
        Assert.Equal([chunks[1].Id], page.Chunks.Select(g => DownloadPlans.Expand(page, g).Chunk.Id.ToChunkId()));

        var missing = await Assert.ThrowsAsync<DropboxException>(() => Remote.GetDownloadPlanAsync(new GetDownloadPlanRequest { Path = "nothing.txt" }, Ct));
        Assert.Equal(ErrorKind.NotFound, missing.Kind);
    }

    [Fact]
    public async Task An_identical_commit_a_retry_after_a_lost_answer_changes_nothing_even_on_a_stale_base()
    {
        var chunks = NewChunks(2);
        var v1 = await UploadAsync("a.txt", chunks);

        var plan = await Remote.PlanUploadAsync(Plan("a.txt", chunks, baseVersion: 0), Ct);
        Assert.False(plan.Conflict);
        Assert.Equal(v1.Version, plan.CurrentVersion);
        Assert.Empty(plan.Missing);

        var again = await Remote.CommitFileAsync(Commit("a.txt", chunks, baseVersion: 0), Ct);
        Assert.Equal(v1.Version, again.Entry.Version);
        Assert.Single((await Remote.ListVersionsAsync(new ListVersionsRequest { Path = "a.txt" }, Ct)).Versions);
    }

    [Fact]
    public async Task Creating_a_folder_again_is_a_no_op_a_file_never_replaces_a_folder_and_a_folder_goes_with_what_is_under_it()
    {
        var folder = await Remote.CreateFolderAsync(new CreateFolderRequest { Path = "d", Device = "contract" }, Ct);
        Assert.Equal(EntryKind.Folder, folder.Entry.Kind);
        var twice = await Remote.CreateFolderAsync(new CreateFolderRequest { Path = "d", Device = "contract" }, Ct);
        Assert.Equal(folder.Entry.Version, twice.Entry.Version);
        await UploadAsync("f.txt", NewChunks(1));
        var overFile = await Assert.ThrowsAsync<DropboxException>(() => Remote.CreateFolderAsync(new CreateFolderRequest { Path = "f.txt", Device = "contract" }, Ct));
        Assert.Equal(ErrorKind.AlreadyExists, overFile.Kind);

        var chunks = NewChunks(1);
        var plan = await Remote.PlanUploadAsync(Plan("d", chunks), Ct);
        await PutAsync(plan, chunks);
        var replace = await Assert.ThrowsAsync<DropboxException>(() => Remote.CommitFileAsync(Commit("d", chunks), Ct));
        Assert.Equal(ErrorKind.AlreadyExists, replace.Kind);

        await UploadAsync("d/x.txt", NewChunks(1));
        var notEmpty = await Assert.ThrowsAsync<DropboxException>(() => Remote.DeleteFileAsync(new DeleteFileRequest { Path = "d", OnlyIfEmpty = true, Device = "contract" }, Ct));
        Assert.Equal(ErrorKind.Conflict, notEmpty.Kind);
        Assert.Equal(["d", "d/x.txt", "f.txt"], (await Remote.ListFilesAsync(new ListFilesRequest(), Ct)).Entries.Select(e => e.Path));

        await Remote.DeleteFileAsync(new DeleteFileRequest { Path = "d", Device = "contract" }, Ct);
        Assert.Equal(["f.txt"], (await Remote.ListFilesAsync(new ListFilesRequest(), Ct)).Entries.Select(e => e.Path));
    }

    [Fact]
    public async Task A_delete_meant_for_a_folder_never_deletes_a_file_at_that_path_nor_the_reverse()
    {
        await UploadAsync("x", NewChunks(1)); // another device replaced the folder x by a file x
        await Remote.CreateFolderAsync(new CreateFolderRequest { Path = "d", Device = "contract" }, Ct);

        var folderDelete = await Assert.ThrowsAsync<DropboxException>(() => Remote.DeleteFileAsync(new DeleteFileRequest { Path = "x", OnlyIfEmpty = true, Device = "contract" }, Ct));
        var folderKind = await Assert.ThrowsAsync<DropboxException>(() => Remote.DeleteFileAsync(new DeleteFileRequest { Path = "x", ExpectedKind = EntryKind.Folder, Device = "contract" }, Ct));
        var fileDelete = await Assert.ThrowsAsync<DropboxException>(() => Remote.DeleteFileAsync(new DeleteFileRequest { Path = "d", ExpectedKind = EntryKind.File, Device = "contract" }, Ct));

        Assert.Equal([ErrorKind.Conflict, ErrorKind.Conflict, ErrorKind.Conflict], new[] { folderDelete.Kind, folderKind.Kind, fileDelete.Kind });
        Assert.Equal(["d", "x"], (await Remote.ListFilesAsync(new ListFilesRequest(), Ct)).Entries.Select(e => e.Path));
        await Remote.DeleteFileAsync(new DeleteFileRequest { Path = "x", ExpectedKind = EntryKind.File, Device = "contract" }, Ct);
        await Remote.DeleteFileAsync(new DeleteFileRequest { Path = "d", OnlyIfEmpty = true, ExpectedKind = EntryKind.Folder, Device = "contract" }, Ct);
        Assert.Empty((await Remote.ListFilesAsync(new ListFilesRequest(), Ct)).Entries);
    }

    [Fact]
    public async Task A_withheld_paths_lookup_gives_its_current_state_deleted_and_folders_included_and_refuses_what_the_feed_refuses()
    {
        await UploadAsync("a.txt", NewChunks(1));
        await Remote.DeleteFileAsync(new DeleteFileRequest { Path = "a.txt", Device = "contract" }, Ct);
        await Remote.CreateFolderAsync(new CreateFolderRequest { Path = "d", Device = "contract" }, Ct);
        var live = await UploadAsync("d/b.txt", NewChunks(1));
        await UploadAsync(Dropbox.SyncClient.Sync.FolderIdentity.MarkerName, NewChunks(1));
        await UploadAsync("state/x", NewChunks(1));

        var deleted = await Dropbox.SyncClient.Sync.WithheldPaths.FetchRemoteStateAsync(Remote, "a.txt", "state", Ct);
        var folder = await Dropbox.SyncClient.Sync.WithheldPaths.FetchRemoteStateAsync(Remote, "d", "state", Ct);
        var file = await Dropbox.SyncClient.Sync.WithheldPaths.FetchRemoteStateAsync(Remote, "d/b.txt", "state", Ct);

        Assert.True(deleted!.Deleted);
        Assert.Equal(("d", Dropbox.SyncClient.State.FileKind.Folder, false), (folder!.Path, folder.Kind, folder.Deleted));
        Assert.Equal(live.Version, file!.Version);
        Assert.Null(await Dropbox.SyncClient.Sync.WithheldPaths.FetchRemoteStateAsync(Remote, "never.txt", "state", Ct));
        Assert.Null(await Dropbox.SyncClient.Sync.WithheldPaths.FetchRemoteStateAsync(Remote, Dropbox.SyncClient.Sync.FolderIdentity.MarkerName, "state", Ct));
        Assert.Null(await Dropbox.SyncClient.Sync.WithheldPaths.FetchRemoteStateAsync(Remote, "state/x", "state", Ct));
    }

    [Fact]
    public async Task Restore_of_version_zero_brings_back_the_newest_version_of_a_deleted_file()
    {
        var chunks = NewChunks(1);
        var v1 = await UploadAsync("a.txt", chunks);
        await Remote.DeleteFileAsync(new DeleteFileRequest { Path = "a.txt", BaseVersion = v1.Version, Device = "contract" }, Ct);

        var restored = await Remote.RestoreAsync(new RestoreRequest { Path = "a.txt", Device = "contract" }, Ct);
        Assert.Equal(v1.ContentHash, restored.Entry.ContentHash);
        Assert.False(restored.Entry.Deleted);
        Assert.Equal(chunks.Select(c => c.Bytes), await DownloadAsync("a.txt"));

        var nothing = await Assert.ThrowsAsync<DropboxException>(() => Remote.RestoreAsync(new RestoreRequest { Path = "never.txt", Device = "contract" }, Ct));
        Assert.Equal(ErrorKind.NotFound, nothing.Kind);
    }

    [Fact]
    public async Task Restore_only_if_deleted_refuses_a_file_that_is_live_now_and_restores_one_still_deleted()
    {
        var v1 = await UploadAsync("a.txt", NewChunks(1));
        await Remote.DeleteFileAsync(new DeleteFileRequest { Path = "a.txt", BaseVersion = v1.Version, Device = "contract" }, Ct);
        var v3 = await UploadAsync("a.txt", NewChunks(1)); // came back (another device) between a listing and the restore

        var live = await Assert.ThrowsAsync<DropboxException>(() => Remote.RestoreAsync(new RestoreRequest { Path = "a.txt", Device = "contract", OnlyIfDeleted = true }, Ct));
        Assert.Equal(ErrorKind.AlreadyExists, live.Kind);
        var versions = await Remote.ListVersionsAsync(new ListVersionsRequest { Path = "a.txt" }, Ct);
        Assert.Equal(v3.Version, versions.Versions.Max(v => v.Version)); // nothing written over it

        await Remote.DeleteFileAsync(new DeleteFileRequest { Path = "a.txt", BaseVersion = v3.Version, Device = "contract" }, Ct);
        var restored = await Remote.RestoreAsync(new RestoreRequest { Path = "a.txt", Device = "contract", OnlyIfDeleted = true }, Ct);
        Assert.Equal(v3.ContentHash, restored.Entry.ContentHash);
    }

    [Fact]
    public async Task A_batch_commit_answers_each_file_on_its_own()
    {
        var v1 = await UploadAsync("a.txt", NewChunks(1));
        var fresh = NewChunks(1);
        var plan = await Remote.PlanUploadAsync(Plan("b.txt", fresh), Ct);
        await PutAsync(plan, fresh);
        var stale = NewChunks(1);
        await PutAsync(await Remote.PlanUploadAsync(Plan("a.txt", stale, v1.Version), Ct), stale);

        var request = new CommitFilesRequest();
        request.Files.Add(Commit("b.txt", fresh));
        request.Files.Add(Commit("a.txt", stale, baseVersion: 0));
        var never = NewChunks(1);
        request.Files.Add(Commit("c.txt", never));
        var results = (await Remote.CommitFilesAsync(request, Ct)).Results;

        Assert.Equal(3, results.Count);
        Assert.Equal("b.txt", results[0].Committed.Entry.Path);
        Assert.Null(results[1].Committed);
        Assert.Equal((int)Grpc.Core.StatusCode.FailedPrecondition, results[1].StatusCode);
        Assert.Equal(v1.Version, results[1].CurrentVersion);
        Assert.Equal((int)Grpc.Core.StatusCode.NotFound, results[2].StatusCode);
        Assert.Equal([never[0].Id], results[2].MissingChunkIds.Select(id => id.ToChunkId()));
        Assert.Equal(["a.txt", "b.txt"], (await Remote.ListFilesAsync(new ListFilesRequest(), Ct)).Entries.Select(e => e.Path));
    }

    [Fact]
    public async Task A_window_of_a_large_file_is_a_conflict_only_when_the_commit_is_sure_to_be_refused()
    {
        var v1 = await UploadAsync("a.txt", NewChunks(1));
        var window = NewChunks(1);
        var sameSize = new PlanChunksRequest { Path = "a.txt", Size = v1.Size, BaseVersion = 0 };
        sameSize.Chunks.AddRange(Refs(window));
        var otherSize = new PlanChunksRequest { Path = "a.txt", Size = v1.Size + 1, BaseVersion = 0 };
        otherSize.Chunks.AddRange(Refs(window));

        var maybe = await Remote.PlanChunksAsync(sameSize, Ct);
        Assert.False(maybe.Conflict);
        Assert.Equal(v1.Version, maybe.CurrentVersion);
        Assert.Equal([window[0].Id], maybe.Missing.Select(m => m.ChunkId.ToChunkId()));
        Assert.True((await Remote.PlanChunksAsync(otherSize, Ct)).Conflict);
    }

    [Fact]
    public async Task Moving_a_folder_moves_everything_under_it()
    {
        await Remote.CreateFolderAsync(new CreateFolderRequest { Path = "d", Device = "contract" }, Ct);
        var chunks = NewChunks(1);
        await UploadAsync("d/x.txt", chunks);

        await Remote.MoveFileAsync(new MoveFileRequest { FromPath = "d", ToPath = "e", Device = "contract" }, Ct);

        Assert.Equal(["e", "e/x.txt"], (await Remote.ListFilesAsync(new ListFilesRequest(), Ct)).Entries.Select(e => e.Path));
        Assert.Equal(chunks.Select(c => c.Bytes), await DownloadAsync("e/x.txt"));
    }

    [Fact]
    public async Task A_file_cannot_be_committed_under_a_path_that_is_a_file()
    {
        await UploadAsync("f", NewChunks(1));
        var chunks = NewChunks(1);

        var e = await Assert.ThrowsAnyAsync<DropboxException>(async () =>
        {
            await PutAsync(await Remote.PlanUploadAsync(Plan("f/x.txt", chunks), Ct), chunks);
            await Remote.CommitFileAsync(Commit("f/x.txt", chunks), Ct);
        });

        Assert.Equal(ErrorKind.AlreadyExists, e.Kind);
        Assert.Equal(["f"], (await Remote.ListFilesAsync(new ListFilesRequest(), Ct)).Entries.Select(x => x.Path));
    }

    [Fact]
    public async Task Listing_pages_through_a_prefix_in_path_order()
    {
        foreach (var path in new[] { "b/2", "a", "b/1", "b/3", "c" })
        {
            await UploadAsync(path, NewChunks(1));
        }

        var first = await Remote.ListFilesAsync(new ListFilesRequest { Prefix = "b", Limit = 2 }, Ct);
        Assert.Equal(["b/1", "b/2"], first.Entries.Select(e => e.Path));
        Assert.True(first.HasMore);
        var rest = await Remote.ListFilesAsync(new ListFilesRequest { Prefix = "b", Limit = 2, StartAfter = "b/2" }, Ct);
        Assert.Equal(["b/3"], rest.Entries.Select(e => e.Path));
        Assert.False(rest.HasMore);
    }

    /// <summary>Starts the implementation under test with one user signed in.</summary>
    internal abstract Task<ContractTarget> StartAsync(CancellationToken ct);

    private List<TestChunk> NewChunks(int count)
    {
        var chunks = new List<TestChunk>();
        for (var i = 0; i < count; i++)
        {
            // Distinct per test and per call, so no two tests (or two target kinds) share a chunk by accident.
            var bytes = new byte[1000 + (37 * i)];
            new Random(HashCode.Combine(GetType().Name, Interlocked.Increment(ref _nextChunk))).NextBytes(bytes);
            chunks.Add(new TestChunk(ChunkId.Compute(bytes), bytes));
        }

        return chunks;
    }

    private static IEnumerable<Shared.Protos.Common.ChunkRef> Refs(IEnumerable<TestChunk> chunks) =>
        chunks.Select(c => new Shared.Protos.Common.ChunkRef { Id = c.Id.ToByteString(), Size = (uint)c.Bytes.Length, Encoding = Shared.Protos.Common.ChunkEncoding.Raw, StoredSize = (uint)c.Bytes.Length });

    private static PlanUploadRequest Plan(string path, IReadOnlyList<TestChunk> chunks, ulong baseVersion = 0)
    {
        var request = new PlanUploadRequest { Path = path, Size = (ulong)chunks.Sum(c => c.Bytes.Length), MtimeUnixMs = 1_700_000_000_000, BaseVersion = baseVersion };
        request.Chunks.AddRange(Refs(chunks));
        return request;
    }

    private static CommitFileRequest Commit(string path, IReadOnlyList<TestChunk> chunks, ulong baseVersion = 0)
    {
        var request = new CommitFileRequest { Path = path, Size = (ulong)chunks.Sum(c => c.Bytes.Length), MtimeUnixMs = 1_700_000_000_000, BaseVersion = baseVersion, Device = "contract" };
        request.Chunks.AddRange(Refs(chunks));
        return request;
    }

    private async Task PutAsync(PlanUploadResponse plan, IReadOnlyList<TestChunk> chunks)
    {
        foreach (var put in plan.Missing)
        {
            var chunk = chunks.First(c => c.Id == put.ChunkId.ToChunkId());
            await _target!.Transfer.PutChunksAsync(put.Node, [new OutgoingChunk(chunk.Id, ChunkEncoding.Raw, chunk.Bytes.Length, put.Token, chunk.Bytes)], Ct);
        }
    }

    private async Task<FileEntry> UploadAsync(string path, IReadOnlyList<TestChunk> chunks, ulong baseVersion = 0)
    {
        var plan = await Remote.PlanUploadAsync(Plan(path, chunks, baseVersion), Ct);
        await PutAsync(plan, chunks);
        return (await Remote.CommitFileAsync(Commit(path, chunks, baseVersion), Ct)).Entry;
    }

    private async Task<List<byte[]>> DownloadAsync(string path, ulong version = 0)
    {
        var first = await Remote.GetDownloadPlanAsync(DownloadPlans.FirstPage(path, version), Ct);
        var result = new List<byte[]>();
        await foreach (var get in DownloadPlans.ChunksAsync(Remote, path, first, Ct))
        {
            var id = get.Chunk.Id.ToChunkId();
            var fetched = await _target!.Transfer.GetChunksAsync(get.Nodes[0], [id], get.Tokens[0], Ct);
            using var incoming = Assert.Single(fetched);
            var plain = Shared.Compression.Lz4ChunkCodec.Decode(incoming.Encoding, incoming.Stored.Span, incoming.PlainSize);
            Assert.Equal(id, ChunkId.Compute(plain));
            result.Add(plain);
        }

        return result;
    }

    private sealed record TestChunk(ChunkId Id, byte[] Bytes);
}
