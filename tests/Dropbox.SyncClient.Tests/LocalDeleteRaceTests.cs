namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A remote delete applied here checks the file, then moves it to the trash: two steps, with the user free to write in
/// between (found by the simulation, seed 203, once a step fell there). What the move took is what counts.
/// </summary>
public sealed class LocalDeleteRaceTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_write_between_the_delete_check_and_the_move_to_the_trash_is_kept_and_sent()
    {
        // Arrange: f.txt synced on both devices, then deleted on A (g.txt stays: no mass-delete guard).
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        ChangeTimeTests.WriteSettled(a, "f.txt", "synced text");
        ChangeTimeTests.WriteSettled(a, "g.txt", "stays");
        await a.SyncAsync();
        await b.SyncAsync();
        File.Delete(a.PathOf("f.txt"));
        await a.SyncAsync();

        // Act: B applies the delete; the user appends to f.txt after B checked it and before B moved it away.
        var appended = false;
        b.State.Writer.Step = step =>
        {
            if (step == "before trashing f.txt")
            {
                File.AppendAllText(b.PathOf("f.txt"), ", and the user's new line");
                appended = true;
            }
        };
        var pass = await b.SyncAsync();
        b.State.Writer.Step = null;

        // Assert: the user's bytes stay in the folder, then reach the server and A.
        Assert.True(appended);
        Assert.Equal(0, pass.FilesDeleted);
        Assert.True(File.Exists(b.PathOf("f.txt")), "the user's edited f.txt went to the trash with the delete");
        Assert.Equal("synced text, and the user's new line", b.Read("f.txt"));
        Assert.Contains(pass.Notes, n => n.Contains("'f.txt' was deleted remotely but changed here while it was deleted; kept", StringComparison.Ordinal));
        Assert.Equal(1, (await b.SyncAsync()).FilesUploaded);
        await a.SyncAsync();
        Assert.Equal("synced text, and the user's new line", a.Read("f.txt"));
    }
}
