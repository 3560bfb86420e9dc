using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>What a refused server entry does to the three-way plan: it is left alone, never read as "unknown to the server".</summary>
public sealed class RefusedEntryTests : IDisposable
{
    /// <summary>Stands for any name this client refuses (':' on Windows).</summary>
    private const string Bad = "bad\u0001.txt";

    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_move_from_a_refused_name_to_a_good_one_downloads_the_good_one()
    {
        var server = new FakeServer();
        await server.CommitFileAsync(new CommitFileRequest { Path = Bad, Size = 0 }, CancellationToken.None);
        using var c = new TestClient(_dir, "c", server);
        var first = await c.SyncAsync();
        Assert.Equal(1, first.Refused);

        await server.MoveFileAsync(new MoveFileRequest { FromPath = Bad, ToPath = "good.txt" }, CancellationToken.None);
        var second = await c.SyncAsync();

        Assert.Equal(1, second.Refused);
        Assert.Equal(0, second.Errors);
        Assert.True(File.Exists(c.PathOf("good.txt")));
        Assert.NotNull(c.State.GetFile("good.txt"));
    }

    [Fact]
    public async Task A_move_to_a_refused_name_deletes_the_source_here_and_a_later_reconcile_does_not_resurrect_it()
    {
        var server = new FakeServer();
        using var b = new TestClient(_dir, "b", server);
        using var c = new TestClient(_dir, "c", server);
        b.Write("a.txt", "hello");
        await b.SyncAsync();
        await c.SyncAsync();
        Assert.Equal("hello", c.Read("a.txt"));

        await server.MoveFileAsync(new MoveFileRequest { FromPath = "a.txt", ToPath = Bad }, CancellationToken.None);
        var delta = await c.SyncAsync();
        var deletedByTheDelta = !File.Exists(c.PathOf("a.txt")) && c.State.GetFile("a.txt") is null;
        var reconcile = await c.SyncAsync(new SyncOptions { Reconcile = true });

        Assert.Equal(1, delta.Refused);
        Assert.True(deletedByTheDelta, "the delta dropped the move whole; only a reconcile would see the delete");
        Assert.False(File.Exists(c.PathOf("a.txt")));
        Assert.True(server.Current("a.txt") is null or { Deleted: true },
            $"a.txt was resurrected on the server (repairs: {string.Join("; ", reconcile.Repairs)}, uploaded {reconcile.FilesUploaded})");
    }

    [Fact]
    public async Task A_move_to_a_refused_name_keeps_a_local_edit_of_the_source()
    {
        var server = new FakeServer();
        using var b = new TestClient(_dir, "b", server);
        using var c = new TestClient(_dir, "c", server);
        b.Write("a.txt", "hello");
        await b.SyncAsync();
        await c.SyncAsync();
        c.Write("a.txt", "edited here meanwhile");
        File.SetLastWriteTimeUtc(c.PathOf("a.txt"), DateTime.UtcNow.AddMinutes(-10));

        await server.MoveFileAsync(new MoveFileRequest { FromPath = "a.txt", ToPath = Bad }, CancellationToken.None);
        var delta = await c.SyncAsync();

        Assert.Equal(1, delta.Refused);
        Assert.Equal("edited here meanwhile", c.Read("a.txt"));
        Assert.Equal(0, delta.FilesDeleted);
    }

    [Fact]
    public async Task A_refused_entry_in_a_full_listing_does_not_make_the_client_forget_its_tracked_file()
    {
        var server = new FakeServer();
        using var b = new TestClient(_dir, "b", server);
        using var c = new TestClient(_dir, "c", server);
        b.Write("a.txt", "mine");
        await b.SyncAsync();
        await c.SyncAsync();

        // The server now lists a.txt with a size the client refuses (RemoteBounds.CheckEntry).
        await server.CommitFileAsync(new CommitFileRequest { Path = "a.txt", BaseVersion = server.Current("a.txt")!.Version, Size = ulong.MaxValue }, CancellationToken.None);
        var reconcile = await c.SyncAsync(new SyncOptions { Reconcile = true });

        var listing = string.Join(", ", TestClient.FilesIn(c.Folder).Select(Path.GetFileName));
        Assert.True(File.Exists(c.PathOf("a.txt")), $"a.txt was moved away; folder: {listing}; errors: {string.Join("; ", reconcile.ErrorMessages)}");
        Assert.Equal("mine", c.Read("a.txt"));
        Assert.NotNull(c.State.GetFile("a.txt"));
        Assert.Equal(0, reconcile.Conflicts);
        Assert.Equal(1, reconcile.Refused);
        Assert.Equal(0, reconcile.Repairs);
    }

    [Fact]
    public async Task A_local_edit_of_a_file_whose_remote_entry_is_refused_is_neither_uploaded_nor_moved_aside()
    {
        var server = new FakeServer();
        using var b = new TestClient(_dir, "b", server);
        using var c = new TestClient(_dir, "c", server);
        b.Write("a.txt", "mine");
        await b.SyncAsync();
        await c.SyncAsync();
        var remoteVersion = server.Current("a.txt")!.Version;

        await server.CommitFileAsync(new CommitFileRequest { Path = "a.txt", BaseVersion = remoteVersion, Size = ulong.MaxValue }, CancellationToken.None);
        c.Write("a.txt", "edited here");
        File.SetLastWriteTimeUtc(c.PathOf("a.txt"), DateTime.UtcNow.AddMinutes(-10));
        var pass = await c.SyncAsync(new SyncOptions { Reconcile = true });

        Assert.Equal("edited here", c.Read("a.txt"));
        Assert.Single(TestClient.FilesIn(c.Folder));
        Assert.Equal(0, pass.Conflicts);
        Assert.Equal(0, pass.Errors); // nothing planned for it, so nothing failed
        Assert.Equal(0, pass.FilesUploaded);
        Assert.Equal(remoteVersion, c.State.GetFile("a.txt")!.Version);
    }

    [Fact]
    public async Task A_conflict_whose_download_plan_is_refused_leaves_the_local_file_under_its_name()
    {
        var server = new FakeServer();
        using var b = new TestClient(_dir, "b", server);
        using var c = new TestClient(_dir, "c", server);
        b.Write("a.txt", "v1");
        await b.SyncAsync();
        await c.SyncAsync();

        // A size within bounds in the feed, but a plan whose chunks do not add up to it.
        await server.CommitFileAsync(new CommitFileRequest { Path = "a.txt", BaseVersion = server.Current("a.txt")!.Version, Size = 5 }, CancellationToken.None);
        c.Write("a.txt", "edited here");
        File.SetLastWriteTimeUtc(c.PathOf("a.txt"), DateTime.UtcNow.AddMinutes(-10));
        var pass = await c.SyncAsync();

        Assert.Equal("edited here", c.Read("a.txt"));
        Assert.Single(TestClient.FilesIn(c.Folder));
        Assert.Equal(0, pass.Conflicts);
        Assert.Contains(pass.ErrorMessages, e => e.Contains("refused the server's download plan", StringComparison.Ordinal));
    }
}
