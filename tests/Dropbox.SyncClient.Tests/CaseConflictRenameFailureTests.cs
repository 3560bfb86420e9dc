using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>A name that clashes in case and cannot be renamed here is left alone: nothing of it is sent under its clashing name.</summary>
public sealed class CaseConflictRenameFailureTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_new_folder_clashing_with_a_remote_one_whose_rename_fails_sends_nothing_under_its_name()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("Docs/x.txt", "on the server");
        await b.SyncAsync();
        using var a = new TestClient(_dir, "a", _server);
        a.Write("docs/a.txt", "new here");
        // The rename's target is made right before the rename (another program): the move fails.
        a.State.Writer.Step = step =>
        {
            if (step.StartsWith("before case-conflict rename docs -> ", StringComparison.Ordinal))
            {
                Directory.CreateDirectory(a.PathOf(step["before case-conflict rename docs -> ".Length..]));
            }
        };

        var pass = await a.SyncAsync();

        Assert.Contains(pass.Notes, n => n.Contains("could not rename 'docs'", StringComparison.Ordinal));
        Assert.Null(_server.Current("docs/a.txt")); // beside 'Docs' on the server: the clash the rename was for
        Assert.Equal("new here", a.Read("docs/a.txt"));
        Assert.True(pass.Pending > 0, "a folder left alone only here was reported as nothing pending"); // else `sync --once` says done
        Assert.Equal(TimeSpan.Zero, pass.RecheckAfter); // and the daemon looks again soon, not at its next rescan

        a.State.Writer.Step = null;
        var next = await a.SyncAsync();

        Assert.Equal(0, next.Errors);
        Assert.Equal("new here", a.Read("docs (Case Conflict 2)/a.txt"));
        await a.SyncAsync(); // a renamed folder is taken as new by the pass after its rename
        Assert.NotNull(_server.Current("docs (Case Conflict 2)/a.txt"));
        Assert.Null(_server.Current("docs/a.txt"));
    }
}
