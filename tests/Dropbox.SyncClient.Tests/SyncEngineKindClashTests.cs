using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>Kind clashes (a file on one side, a folder on the other) through the whole engine, with the fake server.</summary>
public sealed class SyncEngineKindClashTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_young_file_under_a_kind_clash_does_not_bring_the_re_check_forward()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("A", "a file on the server");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) });
        b.Write("A/y.txt", "under a folder that is a file on the server");
        File.SetLastWriteTimeUtc(b.PathOf("A/y.txt"), DateTime.UtcNow.AddMinutes(-50)); // could settle in about 10 minutes
        b.Write("pending.txt", "just written"); // settles in an hour

        var pass = await b.SyncAsync();

        // Only pending.txt waits: A/y.txt is skipped with the clash, settled or not, until one side is renamed (which the
        // watcher sees); a re-check when it settles would only skip it again.
        Assert.Equal(0, pass.Errors);
        Assert.Equal(1, pass.Pending);
        Assert.Contains(pass.Notes, n => n.Contains("A/y.txt", StringComparison.Ordinal) && n.Contains(SyncPlanner.UnderKindClashReason, StringComparison.Ordinal));
        Assert.True(pass.RecheckAfter > TimeSpan.FromMinutes(30), $"re-check after {pass.RecheckAfter}, brought forward by a file that cannot sync until the clash is resolved");
    }

    [Fact]
    public async Task A_one_shot_pass_does_not_wait_for_a_young_file_under_a_kind_clash()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("A", "a file on the server");
        await a.SyncAsync();
        using var b = new TestClient(_dir, "b", _server);
        b.Write("A/y.txt", "under a folder that is a file on the server");
        var log = new List<string>();

        var once = await b.EngineWith(new SyncOptions { StableAge = TimeSpan.FromSeconds(2), WaitForStable = true }, log.Add).RunPassAsync(CancellationToken.None);

        Assert.Equal(0, once.Errors + once.Pending);
        Assert.DoesNotContain(log, l => l.StartsWith("waiting", StringComparison.Ordinal));
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
    public async Task A_new_remote_file_under_a_folder_that_is_a_file_here_is_skipped_not_downloaded_into_an_error()
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
        var clash = await b.SyncAsync();
        Assert.Equal(0, clash.Errors);
        Assert.Contains(clash.Notes, n => n.Contains("'B/a.txt'", StringComparison.Ordinal) && n.Contains(SyncPlanner.UnderKindClashReason, StringComparison.Ordinal));

        File.Move(b.PathOf("B"), b.PathOf("B-mine"));
        var renamed = await b.SyncAsync();
        var last = await b.SyncAsync();

        Assert.Equal(0, renamed.Errors + last.Errors);
        Assert.Equal("new under the folder", b.Read("B/a.txt"));
        Assert.Equal("edited here while it became a folder remotely", b.Read("B-mine"));
    }

    [Fact]
    public async Task A_new_file_here_under_a_folder_that_is_a_file_remotely_is_skipped_not_uploaded_into_a_refusal()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("C", "a file on a");
        await a.SyncAsync();
        b.Write("C/n.txt", "new on b");

        var clash = await b.SyncAsync();

        Assert.Equal(0, clash.Errors);
        Assert.Contains(clash.Notes, n => n.Contains("'C/n.txt'", StringComparison.Ordinal) && n.Contains(SyncPlanner.UnderKindClashReason, StringComparison.Ordinal));
        Assert.Equal("new on b", b.Read("C/n.txt"));
        Assert.Null(_server.Current("C/n.txt"));
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
