using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A remote move onto a path this device ignores, seen in a full listing or through the feed: a file the scan leaves
/// out is there, so the rename is refused, and the listing that asks for must not link the same move again (it did, on
/// every pass, each asking for another listing); a move into an empty ignored folder is applied alike by the feed and
/// a listing. From the reviews of <see cref="MoveDetection.LinkListedMoves"/>.
/// </summary>
public sealed class ListedMoveIgnoreTests : IDisposable
{
    private static readonly byte[] Moving = TestClient.RandomBytes(100_000, 5);

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_listed_move_onto_an_ignored_file_here_leaves_it_and_the_passes_settle()
    {
        var (a, b) = await SyncedPairAsync();
        using var _a = a;
        using var _b = b;
        b.Write(".dropboxignore", ".dropboxignore\nprivate.bin\n");
        b.Write("private.bin", "b's own ignored file");
        await MoveOnServerAsync("notes.bin", "private.bin");

        var passes = new List<SyncSummary>();
        for (var i = 0; i < 4; i++)
        {
            passes.Add(await b.SyncAsync(new SyncOptions { ListAll = i == 0 }));
        }

        Assert.Equal("b's own ignored file", b.Read("private.bin"));
        Assert.All(passes, p => Assert.Equal(0, p.Errors));
        Assert.True(b.State.GetSetting(StateKeys.Cursor) is not null,
            "after 4 passes the cursor is still cleared (each pass lists everything again); last notes: " + string.Join(" | ", passes[^1].Notes));
        Assert.Equal(0, passes[^1].Pending);
        Assert.False(File.Exists(b.PathOf("notes.bin")), "notes.bin is still here although the server moved it away");
    }

    [Fact]
    public async Task A_feed_move_onto_an_ignored_file_here_needs_at_most_one_listing()
    {
        var (a, b) = await SyncedPairAsync();
        using var _a = a;
        using var _b = b;
        b.Write(".dropboxignore", ".dropboxignore\nprivate.bin\n");
        b.Write("private.bin", "b's own ignored file");
        await b.SyncAsync();
        await MoveOnServerAsync("notes.bin", "private.bin");

        var listFiles = _server.ListFilesCalls;
        var last = await b.SyncAsync();
        for (var i = 0; i < 3; i++)
        {
            last = await b.SyncAsync();
        }

        Assert.Equal("b's own ignored file", b.Read("private.bin"));
        Assert.True(_server.ListFilesCalls - listFiles <= 1, $"{_server.ListFilesCalls - listFiles} full listings in 4 passes after the move");
        Assert.NotNull(b.State.GetSetting(StateKeys.Cursor));
        Assert.Equal(0, last.Pending);
        Assert.False(File.Exists(b.PathOf("notes.bin")));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_move_into_an_empty_ignored_folder_is_the_same_rename_from_a_listing_as_from_the_feed(bool listed)
    {
        var (a, b) = await SyncedPairAsync();
        using var _a = a;
        using var _b = b;
        b.Write(".dropboxignore", ".dropboxignore\nbuild/\n");
        await b.SyncAsync();
        await MoveOnServerAsync("notes.bin", "build/notes.bin");

        var pass = await b.SyncAsync(new SyncOptions { ListAll = listed });
        var again = await b.SyncAsync();

        Assert.Equal(0, pass.Errors + again.Errors + again.Pending);
        Assert.Equal(1, pass.FilesMoved);
        Assert.Equal(0, pass.FilesDeleted + pass.FilesDownloaded);
        Assert.False(File.Exists(b.PathOf("notes.bin")));
        Assert.Equal(Moving, File.ReadAllBytes(b.PathOf("build/notes.bin")));
    }

    private async Task<(TestClient A, TestClient B)> SyncedPairAsync()
    {
        var a = new TestClient(_dir, "a", _server);
        var b = new TestClient(_dir, "b", _server);
        a.Write("notes.bin", Moving);
        await a.SyncAsync();
        await b.SyncAsync();
        return (a, b);
    }

    private async Task MoveOnServerAsync(string from, string to)
    {
        var current = _server.Current(from)!;
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = from, ToPath = to, BaseVersion = current.Version, Device = "web" }, CancellationToken.None);
    }
}
