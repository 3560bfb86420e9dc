namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A new file here at a folder of the server's that only a remembered withheld path's lookup shows (the listing moved
/// past it): the file is the planner's, never a plain new file uploaded onto the server's folder; also when its name
/// differs from the folder's only in case ('D' here, 'd/x.txt' looked up: from review-fp49's probe).
/// </summary>
public sealed class WithheldAboveTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("d")]
    [InlineData("D")]
    public async Task A_new_file_where_a_looked_up_path_has_its_folder_is_not_sent_as_a_plain_new_file(string name)
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        b.Write("d/x.txt", "version 1");
        await b.SyncAsync();
        await a.SyncAsync();
        Assert.Equal("version 1", a.Read("d/x.txt"));

        // B edits 'd/x.txt' while A withholds it (a skip long ago: remembered, the cursor past the edit).
        b.Write("d/x.txt", "version 2, edited on b");
        File.SetLastWriteTimeUtc(b.PathOf("d/x.txt"), DateTime.UtcNow.AddMinutes(-1));
        await b.SyncAsync();
        a.State.Withheld.Set(["d/x.txt"]);
        a.Context.Db.SetCursor((await _server.GetAccountAsync(CancellationToken.None)).Cursor);

        // A's user replaces the folder 'd' with a file 'd'.
        Directory.Delete(a.PathOf("d"), recursive: true);
        a.Write(name, "a's file");

        var passes = new List<Sync.SyncSummary>();
        for (var i = 0; i < 3; i++)
        {
            passes.Add(await a.SyncAsync());
        }

        // Without: 'd' went up as a plain new file onto the server's folder and 'd/x.txt' came down under the file here,
        // both failing every pass.
        Assert.True(passes[^1].Errors == 0, "still failing: " + string.Join(" | ", passes[^1].ErrorMessages));
        Assert.NotNull(_server.Current("d/x.txt"));
        var here = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        Assert.Contains("a's file", here);
        Assert.Contains("version 2, edited on b", here);
    }
}
