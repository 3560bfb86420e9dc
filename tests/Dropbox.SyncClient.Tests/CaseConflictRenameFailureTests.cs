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

    [Fact]
    public async Task A_file_renamed_into_a_clash_whose_case_rename_fails_is_not_moved_on_the_server_under_the_new_name()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("notes.txt", "theirs");
        await b.SyncAsync();
        using var a = new TestClient(_dir, "a", _server);
        a.Write("old.txt", "hello");
        a.Write("keep1.txt", "1");
        a.Write("keep2.txt", "2");
        await a.SyncAsync();
        // Renamed here to a name that clashes in case with the server's: the plan renames it to its "(Case Conflict)" name
        // first, and sends it as the move of 'old.txt' there. Another program makes that name right before the rename.
        File.Move(a.PathOf("old.txt"), a.PathOf("Notes.txt"));
        a.State.Writer.Step = step =>
        {
            if (step.StartsWith("before case-conflict rename Notes.txt -> ", StringComparison.Ordinal))
            {
                File.WriteAllText(a.PathOf(step["before case-conflict rename Notes.txt -> ".Length..]), "another program's");
            }
        };

        var pass = await a.SyncAsync();

        Assert.Contains(pass.Notes, n => n.Contains("could not rename 'Notes.txt'", StringComparison.Ordinal));
        Assert.True(pass.Pending > 0, "a rename not made was reported as nothing pending");
        // Not moved on the server to a name whose file here is another program's (the next pass would have taken that
        // file for an edit of it, or its absence for a delete), nor deleted: 'old.txt' waits for the rename.
        Assert.NotNull(_server.Current("old.txt"));
        Assert.Null(_server.Current("Notes (Case Conflict).txt"));
        Assert.Equal("hello", a.Read("Notes.txt"));
        Assert.Equal("another program's", a.Read("Notes (Case Conflict).txt"));

        a.State.Writer.Step = null;
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        await a.SyncAsync();

        Assert.Equal("hello", a.Read("Notes (Case Conflict 2).txt"));
        Assert.Equal((ulong)"hello".Length, _server.Current("Notes (Case Conflict 2).txt")!.Size);
        Assert.Equal((ulong)"another program's".Length, _server.Current("Notes (Case Conflict).txt")!.Size);
        Assert.Null(_server.Current("old.txt"));
        Assert.Equal((ulong)"theirs".Length, _server.Current("notes.txt")!.Size);
    }

    [Fact]
    public async Task A_file_renamed_here_alone_and_written_right_before_its_rename_is_not_sent_with_the_bytes_read_at_its_old_name()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("notes.txt", "theirs");
        await b.SyncAsync();
        using var a = new TestClient(_dir, "a", _server);
        a.Write("Notes.txt", "mine");
        // Read (hashed) at its old name before the plan; written once more after the look right before the rename.
        a.State.Writer.Step = step =>
        {
            if (step.StartsWith("before case-conflict rename Notes.txt -> ", StringComparison.Ordinal))
            {
                File.AppendAllText(a.PathOf("Notes.txt"), ", and more");
            }
        };

        var pass = await a.SyncAsync();

        Assert.Equal("mine, and more", a.Read("Notes (Case Conflict).txt"));
        Assert.True(_server.Current("Notes (Case Conflict).txt") is null || _server.Current("Notes (Case Conflict).txt")!.Size == (ulong)"mine, and more".Length,
            "the bytes read at the old name were sent for a file written since");
        Assert.True(pass.Pending > 0 || _server.Current("Notes (Case Conflict).txt") is not null, "the file was neither sent nor left pending");

        a.State.Writer.Step = null;
        await a.SyncAsync();

        Assert.Equal((ulong)"mine, and more".Length, _server.Current("Notes (Case Conflict).txt")!.Size);
        Assert.Equal((ulong)"theirs".Length, _server.Current("notes.txt")!.Size);
    }

    [Fact]
    public async Task A_file_renamed_here_alone_and_overwritten_with_its_size_and_mtime_kept_before_its_rename_sends_the_new_bytes()
    {
        using var b = new TestClient(_dir, "b", _server);
        b.Write("notes.txt", "theirs");
        b.Write("copy.txt", "mine"); // the bytes read at the old name are on the server already: nothing to put, nothing re-read
        await b.SyncAsync();
        using var a = new TestClient(_dir, "a", _server);
        a.Write("Notes.txt", "mine");
        var mtime = File.GetLastWriteTimeUtc(a.PathOf("Notes.txt"));
        // Overwritten after it was read at its old name, its size and mtime kept (only its ctime moved), right before the rename.
        a.State.Writer.Step = step =>
        {
            if (step.StartsWith("before case-conflict rename Notes.txt -> ", StringComparison.Ordinal))
            {
                File.WriteAllText(a.PathOf("Notes.txt"), "MINE");
                File.SetLastWriteTimeUtc(a.PathOf("Notes.txt"), mtime);
            }
        };

        await a.SyncAsync();
        a.State.Writer.Step = null;
        await a.SyncAsync();
        await b.SyncAsync();

        Assert.Equal("MINE", a.Read("Notes (Case Conflict).txt"));
        Assert.Equal("MINE", b.Read("Notes (Case Conflict).txt")); // not the bytes read before the overwrite
        Assert.Equal("theirs", a.Read("notes.txt"));
    }
}
