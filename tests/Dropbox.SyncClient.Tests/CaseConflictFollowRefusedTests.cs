using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A local folder that loses a case clash and follows another device's move of it to its "(Case Conflict)" name, while
/// the server holds a new file at its old name (so the server refuses this device's own move of that file there): the
/// rename is not made this pass, and the other device's move, which the plan saw as done (the rows as the rename leaves
/// them), must still come down later (seed 104 of the simulation: the cursor moved past it and it never did).
/// </summary>
public sealed class CaseConflictFollowRefusedTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_followed_move_whose_rename_the_server_refuses_still_comes_down_later()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("a/c/z", "mine, synced");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        // A folder 'A/c' another device made comes down beside 'a' (both synced here: 'a', later in order, loses the clash).
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "A/c", Device = "other" }, CancellationToken.None);
        var setup = await a.SyncAsync();
        Assert.True(Directory.Exists(a.PathOf("A/c")), "setup: 'A/c' did not come down: " + string.Join(" | ", setup.Notes));
        // Another device: moves 'a/c/z' to the clash's name (as it resolved the same clash), and a third makes a new 'a/c/z'.
        var synced = _server.Current("a/c/z")!;
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = "a/c/z", ToPath = "a (Case Conflict)/c/z", BaseVersion = synced.Version, Device = "other" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "a/c/z", "theirs, new at the old name");

        var log = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var p = await a.SyncAsync();
            log.Add($"pass {i + 1}: errors={p.Errors} pending={p.Pending} notes=[{string.Join(" | ", p.Notes)}]");
        }

        var here = TestClient.FilesIn(a.Folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f)).ToHashSet(StringComparer.Ordinal);
        var story = string.Join("\n", log) + "\nhere: " + string.Join(", ", here.Order(StringComparer.Ordinal)) + "\nserver: " + string.Join(", ", _server.LivePaths());
        Assert.True(log.Any(l => l.Contains("could not be renamed to 'a (Case Conflict)' on the server", StringComparison.Ordinal)), "setup: the server did not refuse the rename:\n" + story);
        // The other device's move (the synced content at the clash's name) came down, beside the new file at the old name.
        Assert.True(here.Contains("a (Case Conflict)/c/z"), "'a (Case Conflict)/c/z' is on the server but never came down here:\n" + story);
        Assert.Equal("mine, synced", a.Read("a (Case Conflict)/c/z"));
        Assert.Contains(here, p => p.EndsWith("c/z", StringComparison.Ordinal) && p != "a (Case Conflict)/c/z" && File.ReadAllText(a.PathOf(p)) == "theirs, new at the old name");
    }
}
