using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>Kind clashes (a file on one side, a folder on the other) through the whole engine, with the fake server.</summary>
public sealed class SyncEngineKindClashTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_folder_with_a_link_in_it_that_replaced_a_synced_file_here_goes_up()
    {
        // A link is withheld for good (never synced): it must not hold the folder around it (review of 2d6c9a2).
        using var a = new TestClient(_dir, "a", _server);
        a.Write("y.dat", "original");
        await a.SyncAsync();
        File.Delete(a.PathOf("y.dat"));
        a.Write("y.dat/inner.txt", "a's folder");
        File.CreateSymbolicLink(a.PathOf("y.dat/link"), "/etc/hostname");

        var passes = new List<SyncSummary>();
        for (var i = 0; i < 3; i++)
        {
            passes.Add(await a.SyncAsync());
        }

        Assert.NotNull(_server.Current("y.dat/inner.txt")); // without: skipped every pass, the folder never synced
        Assert.All(passes, p => Assert.Equal(0, p.Errors));
    }

    [Fact]
    public async Task A_folder_here_with_a_link_in_it_against_a_remote_file_moves_aside_and_the_file_comes_down()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("y.dat/inner.txt", "original");
        await a.SyncAsync();
        await b.SyncAsync();
        File.CreateSymbolicLink(a.PathOf("y.dat/link"), "/etc/hostname");
        await a.SyncAsync();
        Directory.Delete(b.PathOf("y.dat"), recursive: true);
        b.Write("y.dat", "b's file");
        await b.SyncAsync();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        Assert.Equal("b's file", a.Read("y.dat")); // without: the folder waited for the link, every pass
        Assert.Contains(Directory.EnumerateDirectories(a.Folder), d => Path.GetFileName(d).StartsWith("y (conflicted copy", StringComparison.Ordinal) || Path.GetFileName(d).StartsWith("y.dat (conflicted copy", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_young_file_in_a_folder_here_where_the_server_has_a_file_waits_and_brings_the_re_check_forward()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("A", "a file on the server");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        b.Write("A/y.txt", "under a folder that is a file on the server");
        File.SetLastWriteTimeUtc(b.PathOf("A/y.txt"), DateTime.UtcNow.AddMinutes(-50)); // could settle in about 10 minutes
        b.Write("pending.txt", "just written"); // settles in an hour

        var pass = await b.SyncAsync();

        // The folder waits for A/y.txt (once settled, what is left in it moves aside for the server's file), so the
        // re-check comes when it could be settled; nothing is moved or downloaded meanwhile.
        Assert.Equal(0, pass.Errors + pass.Conflicts);
        Assert.Equal(2, pass.Pending);
        Assert.True(pass.RecheckAfter <= TimeSpan.FromMinutes(11), $"re-check after {pass.RecheckAfter}, not when A/y.txt could be settled");
        Assert.Equal("under a folder that is a file on the server", b.Read("A/y.txt"));
    }

    [Fact]
    public async Task A_one_shot_pass_waits_for_a_young_file_in_a_folder_here_where_the_server_has_a_file_then_keeps_it_as_a_conflicted_copy()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("A", "a file on the server");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server);
        b.Write("A/y.txt", "under a folder that is a file on the server");

        var once = await b.EngineWith(new SyncOptions { StableAge = TimeSpan.FromSeconds(2), WaitForStable = true }).RunPassAsync(CancellationToken.None);

        Assert.Equal(0, once.Errors);
        Assert.Equal(1, once.Conflicts);
        Assert.Equal("a file on the server", b.Read("A"));
        var copy = Assert.Single(Directory.GetDirectories(b.Folder, "A (conflicted copy b *"));
        Assert.Equal("under a folder that is a file on the server", File.ReadAllText(Path.Combine(copy, "y.txt")));
    }

    [Fact]
    public async Task A_file_made_a_folder_on_both_sides_syncs_what_each_side_put_under_it()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("A", "a file first");
        a.Write("keep.txt", "so the folder is never empty");
        await a.SyncAsync();
        await b.SyncAsync();
        File.Delete(a.PathOf("A"));
        await a.SyncAsync();
        Directory.CreateDirectory(a.PathOf("A"));
        await a.SyncAsync();
        a.Write("A/x.txt", "from a");
        await a.SyncAsync();

        // B makes the same change on its own: its db still says A is a file.
        File.Delete(b.PathOf("A"));
        b.Write("A/y.txt", "from b");
        var first = await b.SyncAsync();
        var second = await b.SyncAsync();
        var back = await a.SyncAsync();

        Assert.Equal(0, first.Errors + second.Errors + back.Errors);
        Assert.Equal("from a", b.Read("A/x.txt"));
        Assert.Equal("from b", a.Read("A/y.txt"));
        Assert.NotNull(_server.Current("A/y.txt"));
    }

    [Fact]
    public async Task A_remote_edit_skipped_under_a_folder_made_a_file_here_is_applied_once_the_file_is_renamed()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        Directory.CreateDirectory(a.PathOf("A"));
        await a.SyncAsync(); // the folder gets a row of its own while empty (else neither side knows it is a folder)
        a.Write("A/x.txt", "version 1");
        await a.SyncAsync();
        await b.SyncAsync();
        a.Write("A/x.txt", "version 2, edited on a");
        await a.SyncAsync();

        // B replaces the folder with a file: a kind clash; the edit of A/x.txt under it waits.
        Directory.Delete(b.PathOf("A"), recursive: true);
        b.Write("A", "b's file");
        var clash = await b.SyncAsync();
        a.Write("other.txt", "a later change, so the cursor moves on");
        await a.SyncAsync();
        await b.SyncAsync();

        File.Move(b.PathOf("A"), b.PathOf("A-mine"));
        var renamed = await b.SyncAsync();
        var last = await b.SyncAsync();

        Assert.True(clash.Errors + renamed.Errors + last.Errors == 0, $"clash: {string.Join("; ", clash.ErrorMessages)} notes {string.Join("; ", clash.Notes)} renamed: {string.Join("; ", renamed.ErrorMessages)} last: {string.Join("; ", last.ErrorMessages)}");
        Assert.Equal("version 2, edited on a", b.Read("A/x.txt"));
        Assert.Equal("b's file", b.Read("A-mine"));
        Assert.NotNull(_server.Current("A/x.txt"));
        Assert.NotNull(_server.Current("A-mine"));
        Assert.Empty(b.State.Withheld.Load());
    }

    [Fact]
    public async Task A_file_edited_here_while_it_became_a_folder_remotely_is_kept_as_a_conflicted_copy_and_the_folder_comes_down()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("B", "a file first");
        a.Write("keep.txt", "so the folder is never empty");
        await a.SyncAsync();
        await b.SyncAsync();
        File.Delete(a.PathOf("B"));
        await a.SyncAsync();
        Directory.CreateDirectory(a.PathOf("B"));
        await a.SyncAsync();
        a.Write("B/a.txt", "new under the folder");
        await a.SyncAsync();

        b.Write("B", "edited here while it became a folder remotely");
        var pass = await b.SyncAsync();
        var again = await b.SyncAsync();

        Assert.Equal(0, pass.Errors + again.Errors);
        Assert.Equal(1, pass.Conflicts);
        Assert.Equal("new under the folder", b.Read("B/a.txt"));
        var copy = Assert.Single(TestClient.FilesIn(b.Folder, "B (conflicted copy b *"));
        Assert.Equal("edited here while it became a folder remotely", File.ReadAllText(copy));
        Assert.NotNull(_server.Current(Path.GetFileName(copy)));
    }

    [Fact]
    public async Task A_new_folder_here_where_the_remote_side_has_a_new_file_is_kept_as_a_conflicted_copy_and_the_file_comes_down()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("C", "a file on a");
        await a.SyncAsync();
        b.Write("C/n.txt", "new on b");

        var pass = await b.SyncAsync();
        var again = await b.SyncAsync();

        Assert.Equal(0, pass.Errors + again.Errors);
        Assert.Equal(1, pass.Conflicts);
        Assert.Equal("a file on a", b.Read("C"));
        var copy = Assert.Single(Directory.GetDirectories(b.Folder, "C (conflicted copy b *"));
        Assert.Equal("new on b", File.ReadAllText(Path.Combine(copy, "n.txt")));
        Assert.NotNull(_server.Current(Path.GetFileName(copy) + "/n.txt"));
        Assert.NotNull(_server.Current("C"));
    }

    [Fact]
    public async Task A_file_written_here_while_a_folder_replaced_remotely_by_a_file_comes_down_is_kept()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("keep.txt", "so the folder is never empty");
        Directory.CreateDirectory(a.PathOf("d"));
        await a.SyncAsync(); // the folder gets a row of its own while empty
        await b.SyncAsync();
        Directory.Delete(a.PathOf("d"));
        await a.SyncAsync();
        a.Write("d", "a file where the folder was");
        await a.SyncAsync();

        // B deletes the folder too (deleted here, replaced remotely by a file: downloaded), then writes a file of its
        // own there while the remote bytes come in.
        Directory.Delete(b.PathOf("d"));
        var written = false;
        _server.BeforeGetChunks = () =>
        {
            if (!written)
            {
                written = true;
                File.WriteAllText(b.PathOf("d"), "written on b during the download");
            }
        };
        var pass = await b.SyncAsync();
        _server.BeforeGetChunks = null;
        await b.SyncAsync();
        await b.SyncAsync();

        Assert.True(written);
        var texts = Directory.GetFiles(b.Folder).Select(File.ReadAllText).ToList();
        Assert.Contains("written on b during the download", texts);
        Assert.Contains("a file where the folder was", texts);
        Assert.Equal(0, pass.FilesDeleted);
    }
}
