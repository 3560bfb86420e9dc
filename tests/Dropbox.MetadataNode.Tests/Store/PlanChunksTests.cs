using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Tokens;

namespace Dropbox.MetadataNode.Tests.Store;

/// <summary>
/// PlanChunks: one window of a large file planned while the client still reads it. Same answer, bounds and tokens as
/// PlanUpload; the whole chunk list is judged at the commit as always.
/// </summary>
public sealed class PlanChunksTests
{
    private static ChunkRef[] Chunks(int from, int count, int size = 1000) => Enumerable.Range(from, count).Select(i => StoreHarness.Chunk(i, size)).ToArray();

    private static ChunkWindow Window(string path, ulong size, ulong baseVersion, params ChunkRef[] chunks) =>
        ChunkWindow.Create(path, size, baseVersion, chunks);

    [Fact]
    public async Task Windows_of_a_file_ask_only_for_chunks_this_account_lacks_and_the_commit_takes_the_whole_list()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var held = Chunks(1, 2);
        await h.PutFileAsync(alice, "old", 0, held);
        var fresh = Chunks(100, 3);
        var file = held.Concat(fresh).ToArray();
        var size = (ulong)file.Sum(c => c.Size);

        var first = h.Store.PlanChunks(alice, Window("big", size, 0, file[..3]));
        var second = h.Store.PlanChunks(alice, Window("big", size, 0, file[3..]));

        Assert.Equal([fresh[0].Id], first.Missing.Select(m => m.ChunkId));
        Assert.Equal(fresh[1..].Select(c => c.Id), second.Missing.Select(m => m.ChunkId));
        Assert.False(first.Conflict);
        foreach (var put in first.Missing.Concat(second.Missing))
        {
            // Scoped as PlanUpload's: this operation, this node, this chunk, this account; no other chunk.
            var token = h.Tokens.Validate(put.Token, TokenOperation.Put, StoreHarness.NodeA, put.ChunkId);
            Assert.Equal(alice.Namespace.Value, token.Namespace);
            Assert.Equal(ErrorKind.PermissionDenied, Assert.Throws<DropboxException>(() => h.Tokens.Validate(put.Token, TokenOperation.Put, StoreHarness.NodeA, held[0].Id)).Kind);
            Assert.Equal(ErrorKind.PermissionDenied, Assert.Throws<DropboxException>(() => h.Tokens.Validate(put.Token, TokenOperation.Get, StoreHarness.NodeA, put.ChunkId)).Kind);
        }

        Assert.Equal(3, h.Store.PendingPutCount(alice));
        h.Stored(alice, fresh);
        var committed = await h.Store.CommitAsync(alice, StoreHarness.Upload("big", 0, file), CancellationToken.None);
        Assert.Equal(file.Length, committed.Entry.Chunks.Count);
        h.AssertConsistent();
    }

    [Fact]
    public async Task A_chunk_only_another_account_holds_is_still_asked_for_and_a_commit_naming_it_unsent_is_refused()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var (mallory, _) = h.Store.AddUser("mallory");
        var secret = Chunks(7, 1);
        await h.PutFileAsync(alice, "secret", 0, secret);

        var plan = h.Store.PlanChunks(mallory, Window("guess", (ulong)secret[0].Size, 0, secret));

        // The answer is the same as for a hash nobody holds: whether alice holds it is not revealed.
        var unknown = Chunks(8, 1);
        var control = h.Store.PlanChunks(mallory, Window("control", (ulong)unknown[0].Size, 0, unknown));
        Assert.Equal([secret[0].Id], plan.Missing.Select(m => m.ChunkId));
        Assert.Equal(control.Missing.Count, plan.Missing.Count);
        Assert.Equal(0UL, plan.CurrentVersion);

        // Planning it is not owning it: without mallory's own upload the commit is refused.
        var refused = await Assert.ThrowsAsync<DropboxException>(() => h.Store.CommitAsync(mallory, StoreHarness.Upload("guess", 0, secret), CancellationToken.None));
        Assert.Equal(ErrorKind.NotFound, refused.Kind);
        Assert.Empty(h.Store.ListFiles(mallory, "", false, 0, null).Entries);
    }

    [Fact]
    public void An_oversize_window_is_refused_naming_the_limit_and_notes_no_pending_put()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var chunks = Chunks(0, Limits.MaxChunksPerWindow + 1, 10);

        var ex = Assert.Throws<DropboxException>(() => Window("big", (ulong)chunks.Sum(c => c.Size), 0, chunks));

        Assert.Equal(ErrorKind.ResourceExhausted, ex.Kind);
        Assert.Contains($"MaxChunksPerWindow = {Limits.MaxChunksPerWindow}", ex.Message);
        Assert.Equal(0, h.Store.PendingPutCount(alice));
        Assert.Equal(Limits.MaxChunksPerWindow, Window("big", (ulong)chunks.Sum(c => c.Size), 0, chunks[1..]).Chunks.Count); // the limit itself is fine
    }

    [Fact]
    public async Task A_window_naming_a_file_size_near_two_to_the_64_is_refused_and_cannot_wrap_past_the_quota()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        await h.PutFileAsync(alice, "used", 0, Chunks(1, 2));
        await h.Store.SetQuotaAsync("alice", 10_000);
        var chunk = Chunks(50, 1);
        var wire = chunk.Select(c => c.ToProto()).ToList();

        // used (2000) + (2^64 - 1000) wraps to 1000: under the quota unless the size is bounded and the sum saturates.
        var huge = Assert.Throws<DropboxException>(() => h.Store.PlanChunks(alice, ChunkWindow.Create("big", ulong.MaxValue - 999, 0, new WireChunks(wire))));
        Assert.Equal(ErrorKind.InvalidArgument, huge.Kind);
        Assert.Contains(Limits.MaxFileSize.ToString(System.Globalization.CultureInfo.InvariantCulture), huge.Message);
        Assert.Equal(0, h.Store.PendingPutCount(alice));

        var overQuota = Assert.Throws<DropboxException>(() => h.Store.PlanChunks(alice, Window("big", Limits.MaxFileSize, 0, chunk)));
        Assert.Equal(ErrorKind.ResourceExhausted, overQuota.Kind); // the largest size allowed is still judged by the quota
        Assert.Equal(0, h.Store.PendingPutCount(alice));
    }

    [Fact]
    public void Malformed_windows_are_invalid_arguments_saying_what_was_wrong()
    {
        var chunks = Chunks(0, 3, 1000);
        var wire = chunks.Select(c => c.ToProto()).ToList();

        var tooSmall = Assert.Throws<DropboxException>(() => ChunkWindow.Create("big", 2999, 0, new WireChunks(wire)));
        Assert.Equal(ErrorKind.InvalidArgument, tooSmall.Kind);
        Assert.Contains("2999", tooSmall.Message);

        var badPath = Assert.Throws<DropboxException>(() => ChunkWindow.Create("../escape", 3000, 0, new WireChunks(wire)));
        Assert.Equal(ErrorKind.InvalidArgument, badPath.Kind);

        var emptyChunk = chunks[0].ToProto();
        emptyChunk.Size = 0;
        var zero = Assert.Throws<DropboxException>(() => ChunkWindow.Create("big", 3000, 0, new WireChunks([emptyChunk])));
        Assert.Equal(ErrorKind.InvalidArgument, zero.Kind);
        Assert.Contains("Chunk #0", zero.Message);

        var shortId = chunks[1].ToProto();
        shortId.Id = Google.Protobuf.ByteString.CopyFrom(new byte[5]);
        Assert.Equal(ErrorKind.InvalidArgument, Assert.Throws<DropboxException>(() => ChunkWindow.Create("big", 3000, 0, new WireChunks([shortId]))).Kind);
    }

    [Fact]
    public void Windows_share_the_accounts_pending_put_bound_with_PlanUpload_all_or_none()
    {
        const int limit = 500;
        using var h = new StoreHarness(o => o with { MaxPendingPutsPerUser = limit });
        var (mallory, _) = h.Store.AddUser("mallory");
        Assert.Equal(400, h.Store.PlanUpload(mallory, StoreHarness.Upload("a", 0, Chunks(0, 400))).Missing.Count);
        var over = Chunks(1000, 200);

        var ex = Assert.Throws<DropboxException>(() => h.Store.PlanChunks(mallory, Window("b", 1_000_000, 0, over)));

        Assert.Equal(ErrorKind.ResourceExhausted, ex.Kind);
        Assert.Contains($"MaxPendingPutsPerUser = {limit}", ex.Message);
        Assert.Equal(400, h.Store.PendingPutCount(mallory)); // nothing of the refused window was noted
        Assert.Equal(100, h.Store.PlanChunks(mallory, Window("b", 1_000_000, 0, over[..100])).Missing.Count);
        Assert.Equal(limit, h.Store.PendingPutCount(mallory));
    }

    [Fact]
    public async Task A_stale_base_is_a_conflict_only_when_the_current_version_cannot_be_the_same_content()
    {
        using var h = new StoreHarness();
        var (alice, _) = h.Store.AddUser("alice");
        var content = Chunks(1, 2);
        var v = (await h.PutFileAsync(alice, "f", 0, content)).Entry.Version;
        var size = (ulong)content.Sum(c => c.Size);

        Assert.False(h.Store.PlanChunks(alice, Window("f", size + 5, v, Chunks(50, 1, 5))).Conflict); // the current base
        Assert.True(h.Store.PlanChunks(alice, Window("f", size + 5, 0, Chunks(50, 1, 5))).Conflict); // stale base, another size
        var same = h.Store.PlanChunks(alice, Window("f", size, 0, content[..1]));
        Assert.False(same.Conflict); // perhaps the same content: the commit decides (and accepts an identical one)
        Assert.Equal(v, same.CurrentVersion);
        Assert.Equal(v, (await h.Store.CommitAsync(alice, StoreHarness.Upload("f", 0, content), CancellationToken.None)).Entry.Version);
    }
}
