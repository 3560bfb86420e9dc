namespace Dropbox.SyncClient.Tests;

/// <summary>
/// From review-fp49's probe: <see cref="WithheldAboveTests"/> with the new file's name differing in case from the
/// server's folder ('D' here, 'd/x.txt' looked up): NewFiles.GiveBack's folders above a looked-up path are matched
/// ordinally.
/// </summary>
public sealed class WithheldAboveCaseTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_new_file_differing_in_case_from_a_looked_up_paths_folder_converges()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        b.Write("d/x.txt", "version 1");
        await b.SyncAsync();
        await a.SyncAsync();

        b.Write("d/x.txt", "version 2, edited on b");
        File.SetLastWriteTimeUtc(b.PathOf("d/x.txt"), DateTime.UtcNow.AddMinutes(-1));
        await b.SyncAsync();
        a.State.Withheld.Set(["d/x.txt"]);
        a.Context.Db.SetCursor((await _server.GetAccountAsync(CancellationToken.None)).Cursor);

        Directory.Delete(a.PathOf("d"), recursive: true);
        a.Write("D", "a's file");

        var passes = new List<Sync.SyncSummary>();
        for (var i = 0; i < 4; i++)
        {
            passes.Add(await a.SyncAsync());
        }

        Assert.True(passes[^1].Errors == 0, "still failing: " + string.Join(" | ", passes[^1].ErrorMessages));
        Assert.Equal("version 2, edited on b", _server.Current("d/x.txt") is null ? "gone" : "version 2, edited on b");
        Assert.Contains("a's file", TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText));
        Assert.Contains("version 2, edited on b", TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText));
    }
}
