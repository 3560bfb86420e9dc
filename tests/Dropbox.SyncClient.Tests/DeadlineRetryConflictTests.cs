using Dropbox.Shared.Errors;

namespace Dropbox.SyncClient.Tests;

/// <summary>An upload retried after a call whose answer was lost (a deadline) once a step of it had landed.</summary>
public sealed class DeadlineRetryConflictTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_deadline_on_the_conflicted_copys_commit_makes_no_second_conflicted_copy()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("shared.txt", "base");
        await a.SyncAsync();
        await b.SyncAsync();
        a.Write("shared.txt", "A's edit");
        await a.SyncAsync();
        b.Write("shared.txt", "B's edit, a different length");

        // The conflicted copy's commit lands, but its answer is lost once (the server did not answer in time).
        var lost = 0;
        _server.AfterCommitFile = r => r.Path.Contains("conflicted copy", StringComparison.Ordinal) && lost++ == 0
            ? new DropboxException(ErrorKind.Unavailable, $"Committing '{r.Path}': the server did not answer in time; it will be tried again.")
            : null;
        var first = await b.SyncAsync();
        var second = await b.SyncAsync();
        await a.SyncAsync();

        Assert.Equal(1, lost);
        var copy = Path.GetFileName(Assert.Single(Directory.GetFiles(b.Folder, "shared (conflicted copy*")));
        Assert.Equal("B's edit, a different length", b.Read(copy));
        Assert.Equal("A's edit", b.Read("shared.txt"));
        Assert.Single(Directory.GetFiles(a.Folder, "shared (conflicted copy*"));
        Assert.Equal(1, first.Conflicts + second.Conflicts);
        Assert.DoesNotContain(_server.History("shared.txt"), v => v.ModifiedBy == "b"); // A's edit was never overwritten
    }
}
