using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A stopped client's leftovers as the executor runs them: a copy kept in a folder that replaced a synced file here goes
/// up after the step that clears that path on the server, and a one-shot pass waits for a leftover still being written
/// as for any file, then sends its copy.
/// </summary>
public sealed class LeftoverOrderTests : IDisposable
{
    private const string UserBytes = "the user's new bytes";
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_copy_kept_in_a_folder_that_replaced_a_synced_file_here_goes_up_in_the_same_pass()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs", "a file");
        a.Write("other.txt", "so that no folder is ever empty");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        File.Delete(b.PathOf("docs"));
        b.Write("docs/" + TempName.NewDisplaced("x.txt"), UserBytes);

        var pass = await b.SyncAsync();

        Assert.True(pass.Errors == 0, "errors: " + string.Join(" | ", pass.ErrorMessages));
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        var kept = Assert.Single(TestClient.FilesIn(a.Folder, "*", SearchOption.AllDirectories), f => File.ReadAllText(f) == UserBytes)!;
        Assert.Contains(ConflictNames.Marker, Path.GetFileName(kept), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_young_leftover_in_a_one_shot_pass_is_waited_for_and_sent()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/synced.txt", "synced");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        b.Write("docs/" + TempName.NewDisplaced("synced.txt"), UserBytes);

        var pass = await b.SyncAsync(new SyncOptions { StableAge = TimeSpan.FromSeconds(1), WaitForStable = true });

        var copy = Path.GetFileName(Assert.Single(Directory.GetFiles(b.PathOf("docs")), f => !f.EndsWith("synced.txt", StringComparison.Ordinal)));
        Assert.True(_server.Current("docs/" + copy) is not null, $"copy '{copy}' not on the server after a one-shot pass; pending {pass.Pending}");
        Assert.Equal(0, pass.Pending);
    }
    [Fact]
    public async Task A_kept_copy_whose_upload_fails_fails_only_its_step_not_the_pass()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("docs/synced.txt", "synced");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        var leftover = "docs/" + TempName.NewDisplaced("synced.txt");
        b.Write(leftover, UserBytes);
        File.SetLastWriteTimeUtc(b.PathOf(leftover), DateTime.UtcNow.AddHours(-1)); // settled: kept and sent this pass
        a.Write("news.txt", "a remote change this pass brings");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        _server.BeforePlanUpload = p =>
        {
            if (p.Contains(ConflictNames.Marker, StringComparison.Ordinal))
            {
                throw new Dropbox.Shared.Errors.DropboxException(Dropbox.Shared.Errors.ErrorKind.Unavailable, "the node is down for this copy");
            }
        };

        var pass = await b.SyncAsync();

        Assert.Equal(1, pass.Errors);
        Assert.True(File.Exists(b.PathOf("news.txt")), "news.txt not downloaded in the pass; errors: " + string.Join(" | ", pass.ErrorMessages));
        _server.BeforePlanUpload = null;
        Assert.Equal(0, (await b.SyncAsync()).Errors); // the copy, visible here, goes up as a new file
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        var kept = Assert.Single(TestClient.FilesIn(a.Folder, "*", SearchOption.AllDirectories), f => File.ReadAllText(f) == UserBytes)!;
        Assert.Contains(ConflictNames.Marker, Path.GetFileName(kept), StringComparison.Ordinal);
    }
}
