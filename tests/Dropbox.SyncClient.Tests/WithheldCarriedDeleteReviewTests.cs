using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Review wh53 probes of the kept carried delete (<see cref="FollowedCaseMoves.StillWithheld"/>): the set-up of
/// <see cref="WithheldCarriedDeleteTests"/> (x.txt deleted by another device right before this client's case-conflict move
/// of 'docs', a link left at its new path so the pass that takes the delete withholds it), then the sequences the review
/// brief names: a file made at that path on the server since, seen by a full listing, by a pass that keeps its cursor, or
/// past a feed cut short; a folder at that path; a reconcile's engine on the same db; a new file there much later.
/// </summary>
public sealed class WithheldCarriedDeleteReviewTests : IDisposable
{
    private const string Moved = CaseClash.Moved;
    private const string Carried = Moved + "/x.txt";

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();
    private readonly HashSet<string> _denied = new(StringComparer.Ordinal);

    public void Dispose() => _dir.Dispose();

    /// <summary>Client a renamed 'docs' with x.txt's delete carried; a link at x.txt's new path; one pass kept the delete.</summary>
    private async Task<(TestClient A, string Aside)> KeptWhileWithheldAsync()
    {
        var a = await CaseClash.SyncedAsync(_dir, _server);
        CaseClash.DeleteBeforeTheMove(_server, "docs/x.txt");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.True(File.Exists(a.PathOf(Carried)));
        var aside = _dir.Sub("x kept aside.txt");
        File.Move(a.PathOf(Carried), aside);
        File.CreateSymbolicLink(a.PathOf(Carried), aside);
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Contains(Carried, a.State.Withheld.Load());
        Assert.Contains(FollowedCaseMoves.Load(a.State.GetSetting(Dropbox.SyncClient.State.StateKeys.CaseFollowedMoves)), e => e.Path == Carried && e.Deleted);
        return (a, aside);
    }

    private static void PutTheFileBack(TestClient a, string aside)
    {
        File.Delete(a.PathOf(Carried));
        File.Move(aside, a.PathOf(Carried));
    }

    private string State(TestClient a, IEnumerable<string> notes) =>
        $"here [{string.Join(", ", TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f)).Order(StringComparer.Ordinal))}]; "
        + $"server x.txt: {(_server.Current(Carried) is { } c ? c.Size + " bytes v" + c.Version : "none")}; memory: {a.State.GetSetting(Dropbox.SyncClient.State.StateKeys.CaseFollowedMoves) ?? "none"}; notes: [{string.Join(" | ", notes)}]";

    /// <summary>Another device makes x.txt again on the server; a full listing (list-all) pass sees it while the link stands.</summary>
    [Fact]
    public async Task A_file_made_again_on_the_server_seen_by_a_full_listing_while_withheld_wins()
    {
        var (a, aside) = await KeptWhileWithheldAsync();
        using var _ = a;
        await TestClient.CommitAsOtherClientAsync(_dir, _server, Carried, "made again by another device", client: "web4");
        Assert.Equal(0, (await a.SyncAsync(new SyncOptions { ListAll = true })).Errors);
        PutTheFileBack(a, aside);

        var notes = await Convergence.SettleAsync(a);

        Assert.True(File.Exists(a.PathOf(Carried)), "the server's newer x.txt is not here: " + State(a, notes));
        Assert.Equal("made again by another device", a.Read(Carried));
        Assert.Equal("made again by another device".Length, (long)_server.Current(Carried)!.Size);
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>As above, seen by a pass that keeps its old cursor (an upload elsewhere fails), then a list-all pass.</summary>
    [Fact]
    public async Task A_file_made_again_on_the_server_seen_by_a_pass_that_keeps_its_cursor_wins()
    {
        var (a, aside) = await KeptWhileWithheldAsync();
        using var _ = a;
        await TestClient.CommitAsOtherClientAsync(_dir, _server, Carried, "made again by another device", client: "web4");
        a.Write("other.txt", "a new file whose upload fails");
        _server.BeforePlanUpload = _ => throw new DropboxException(ErrorKind.Unavailable, "uploads are down");
        _server.BeforePlanUploads = (_, _) => throw new DropboxException(ErrorKind.Unavailable, "uploads are down");
        var failed = await a.SyncAsync();
        _server.BeforePlanUpload = null;
        _server.BeforePlanUploads = null;
        Assert.True(failed.Errors > 0, "the pass did not fail: " + string.Join(" | ", failed.Notes));
        PutTheFileBack(a, aside);

        var notes = await Convergence.SettleAsync(a);

        Assert.Equal("made again by another device", a.Read(Carried));
        Assert.Equal("made again by another device".Length, (long)_server.Current(Carried)!.Size);
        Assert.Equal("a new file whose upload fails", a.Read("other.txt"));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// The file is made again on the server after several other changes; the link is gone and the file back when a pass
    /// whose feed is cut short (one page of two) reads only the changes before it: the kept delete is put back in a view
    /// that lacks the newer file. The synced bytes may go to the trash; the server's newer file must end up here.
    /// </summary>
    [Fact]
    public async Task A_file_made_again_past_a_feed_cut_short_still_wins()
    {
        var (a, aside) = await KeptWhileWithheldAsync();
        using var _ = a;
        for (var i = 0; i < 4; i++)
        {
            await TestClient.CommitAsOtherClientAsync(_dir, _server, $"z{i}.txt", $"z{i}", client: $"wz{i}");
        }

        await TestClient.CommitAsOtherClientAsync(_dir, _server, Carried, "made again by another device", client: "web4");
        PutTheFileBack(a, aside);
        _server.ChangesPageLimit = 2;
        var cut = await a.EngineWith(new SyncOptions { MaxListPages = 1 }).RunPassAsync(CancellationToken.None);
        Assert.Equal(0, cut.Errors);
        _server.ChangesPageLimit = 0;

        var notes = await Convergence.SettleAsync(a);

        Assert.True(File.Exists(a.PathOf(Carried)), "the server's newer x.txt is not here: " + State(a, notes));
        Assert.Equal("made again by another device", a.Read(Carried));
        Assert.Equal("made again by another device".Length, (long)_server.Current(Carried)!.Size);
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>The link goes and a folder with a file in it takes its name: the folder and its file are sent, never lost.</summary>
    [Fact]
    public async Task A_folder_made_at_the_path_while_the_delete_is_kept_is_sent()
    {
        var (a, aside) = await KeptWhileWithheldAsync();
        using var _ = a;
        File.Delete(a.PathOf(Carried));
        a.Write(Carried + "/inner.txt", "inside a folder named x.txt");

        var notes = await Convergence.SettleAsync(a);

        Assert.Equal("inside a folder named x.txt", a.Read(Carried + "/inner.txt"));
        Assert.True(_server.Current(Carried + "/inner.txt") is { Deleted: false }, "inner.txt never reached the server: " + State(a, notes));
        Assert.Null(a.State.GetSetting(Dropbox.SyncClient.State.StateKeys.CaseFollowedMoves));
        Assert.Equal("x as synced", File.ReadAllText(aside)); // outside the folder: untouched
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>A reconcile's engine on the same db runs while the link stands, then the daemon's engine once the file is back.</summary>
    [Fact]
    public async Task A_reconcile_engine_while_withheld_keeps_the_delete_for_the_daemon()
    {
        var (a, aside) = await KeptWhileWithheldAsync();
        using var _ = a;
        Assert.Equal(0, (await a.EngineWith(new SyncOptions { Reconcile = true }).RunPassAsync(CancellationToken.None)).Errors);
        Assert.Null(_server.Current(Carried));
        PutTheFileBack(a, aside);

        var notes = await Convergence.SettleAsync(a);

        Assert.False(File.Exists(a.PathOf(Carried)), "x.txt, deleted by the other device, is still here: " + State(a, notes));
        Assert.Null(_server.Current(Carried));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// The link stands for many passes; then a reconcile once the file is back (a full listing, where the server lacks the
    /// path): the other device's delete must hold, not be undone by an upload of the file as new.
    /// </summary>
    [Fact]
    public async Task A_reconcile_after_the_file_is_back_applies_the_kept_delete()
    {
        var (a, aside) = await KeptWhileWithheldAsync();
        using var _ = a;
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        PutTheFileBack(a, aside);
        var reconcile = await a.EngineWith(new SyncOptions { Reconcile = true }).RunPassAsync(CancellationToken.None);
        Assert.Equal(0, reconcile.Errors);

        var notes = await Convergence.SettleAsync(a);
        notes.AddRange(reconcile.Notes);

        Assert.False(File.Exists(a.PathOf(Carried)), "x.txt, deleted by the other device, is still here: " + State(a, notes));
        Assert.Null(_server.Current(Carried));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>Many passes later the link goes and a new, different file is made at the path: it is sent, never deleted.</summary>
    [Fact]
    public async Task A_new_file_made_at_the_path_long_after_is_sent_not_deleted()
    {
        var (a, aside) = await KeptWhileWithheldAsync();
        using var _ = a;
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        Assert.Single(FollowedCaseMoves.Load(a.State.GetSetting(Dropbox.SyncClient.State.StateKeys.CaseFollowedMoves)));
        File.Delete(a.PathOf(Carried));
        a.Write(Carried, "a new file, made here much later");

        var notes = await Convergence.SettleAsync(a);

        Assert.True(File.Exists(a.PathOf(Carried)), "the new file was deleted: " + State(a, notes));
        Assert.Equal("a new file, made here much later", a.Read(Carried));
        Assert.Equal("a new file, made here much later".Length, (long)_server.Current(Carried)!.Size);
        Assert.Null(a.State.GetSetting(Dropbox.SyncClient.State.StateKeys.CaseFollowedMoves));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// Two engines on one db: a `sync --once` engine's pass runs while the link stands (the daemon's engine kept the delete),
    /// then, the file back, the `--once` engine again and the daemon's: the delete holds, applied once.
    /// </summary>
    [Fact]
    public async Task A_sync_once_engine_beside_the_daemon_keeps_and_applies_the_delete()
    {
        var (a, aside) = await KeptWhileWithheldAsync();
        using var _ = a;
        var once = a.EngineWith(new SyncOptions());
        Assert.Equal(0, (await once.RunPassAsync(CancellationToken.None)).Errors);
        Assert.Contains(FollowedCaseMoves.Load(a.State.GetSetting(Dropbox.SyncClient.State.StateKeys.CaseFollowedMoves)), e => e.Path == Carried && e.Deleted);
        Assert.Equal(0, (await a.SyncAsync()).Errors); // the daemon, the link still there
        PutTheFileBack(a, aside);
        var applied = await a.EngineWith(new SyncOptions()).RunPassAsync(CancellationToken.None);
        Assert.Equal(0, applied.Errors);

        var notes = await Convergence.SettleAsync(a);
        notes.InsertRange(0, applied.Notes);

        Assert.False(File.Exists(a.PathOf(Carried)), "x.txt, deleted by the other device, is still here: " + State(a, notes));
        Assert.Null(_server.Current(Carried));
        Assert.Null(a.State.GetSetting(Dropbox.SyncClient.State.StateKeys.CaseFollowedMoves));
        Assert.Empty(a.State.Withheld.Load());
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// A FOLDER deleted by the other device right before the move (docs/sub with a.txt): both deletes are carried to the
    /// new name; a link stands at sub/a.txt when they are taken, so the file's delete is kept, and the folder (holding the
    /// link) cannot go. Once the file is back, neither the folder nor the file may come back on the server.
    /// </summary>
    [Fact]
    public async Task A_carried_folder_delete_with_a_withheld_file_in_it_stays_deleted()
    {
        using var a = await CaseClash.SyncedAsync(_dir, _server);
        CaseClash.DeleteBeforeTheMove(_server, "docs/sub");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        const string inner = Moved + "/sub/a.txt";
        Assert.True(File.Exists(a.PathOf(inner)));
        var aside = _dir.Sub("a kept aside.txt");
        File.Move(a.PathOf(inner), aside);
        File.CreateSymbolicLink(a.PathOf(inner), aside);
        var withheld = await a.SyncAsync();
        Assert.Equal(0, withheld.Errors);
        File.Delete(a.PathOf(inner));
        File.Move(aside, a.PathOf(inner));

        var notes = await Convergence.SettleAsync(a);
        notes.InsertRange(0, withheld.Notes);

        var state = $"here [{string.Join(", ", Directory.GetFileSystemEntries(a.Folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f)).Order(StringComparer.Ordinal))}]; "
            + $"server sub: {_server.Current(Moved + "/sub") is { Deleted: false }}, a.txt: {_server.Current(inner) is { Deleted: false }}; notes: [{string.Join(" | ", notes)}]";
        Assert.False(File.Exists(a.PathOf(inner)), "a.txt, deleted with its folder by the other device, is still here: " + state);
        Assert.False(_server.Current(Moved + "/sub") is { Deleted: false }, "the folder sub, deleted by the other device, is on the server again: " + state);
        Assert.False(Directory.Exists(a.PathOf(Moved + "/sub")), "the folder sub, deleted by the other device, is still here: " + state);
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// The kept delete's path is not withheld but its file cannot be read (chmod 000: ctime moved, size and mtime as
    /// synced): the remote delete waits with it (withheld memory) and is kept on. Full-listing passes (a .dropboxignore
    /// edited each time) see the path in their view with the kept delete in it, so the withheld paths' back-off records
    /// the kept delete as the path's "looked-up" state. Then another device makes x.txt again on the server; a delta pass
    /// lists it (the file still unreadable: it waits; the kept delete is forgotten, the cursor moves past the new file).
    /// Once the file can be read again (only its mode changed: what is here is the same), the backed-off pass hands the
    /// stale kept delete to the planner instead of looking the path up: the synced copy goes to the trash and the
    /// server's newer x.txt is never downloaded.
    /// </summary>
    [Theory]
    [InlineData(0)] // control: no full listing while the file cannot be read
    [InlineData(4)]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_kept_delete_recorded_by_a_full_listing_backoff_never_shadows_a_file_made_again(int fullListings)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using var a = new TestClient(_dir, "a", _server, chunker: inner => new RefusingChunkSource(inner, _denied));
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "Docs/y.txt", "older");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        await _server.CreateFolderAsync(new Dropbox.Shared.Protos.Metadata.CreateFolderRequest { Path = "docs", Device = "web" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/x.txt", "x as synced", client: "web2");
        a.Write(".dropboxignore", "ignored.tmp\n");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        CaseClash.DeleteBeforeTheMove(_server, "docs/x.txt");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.True(File.Exists(a.PathOf(Carried)));

        var full = a.PathOf(Carried);
        ChangeTimeTests.MoveCtime(full, () => File.SetUnixFileMode(full, UnixFileMode.None));
        lock (_denied)
        {
            _denied.Add(full);
        }

        var waited = await a.SyncAsync();
        Assert.Equal(0, waited.Errors);
        Assert.Contains(Carried, a.State.Withheld.Load());
        for (var i = 0; i < fullListings; i++)
        {
            a.Write(".dropboxignore", string.Concat(Enumerable.Range(0, i + 2).Select(n => $"ignored{n}.tmp\n")));
            var listed = await a.SyncAsync();
            Assert.Equal(0, listed.Errors);
            Assert.Contains(listed.Notes, n => n.Contains("lists everything", StringComparison.Ordinal));
        }

        Assert.Contains(FollowedCaseMoves.Load(a.State.GetSetting(Dropbox.SyncClient.State.StateKeys.CaseFollowedMoves)), e => e.Path == Carried && e.Deleted);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, Carried, "made again by another device", client: "web4");
        Assert.Equal(0, (await a.SyncAsync()).Errors); // lists the new file; still unreadable: it waits
        File.SetUnixFileMode(full, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        lock (_denied)
        {
            _denied.Remove(full);
        }

        var readable = await a.SyncAsync();
        var notes = await Convergence.SettleAsync(a);
        notes.InsertRange(0, readable.Notes.Prepend($"[readable pass: {readable.FilesDeleted} deleted, {readable.FilesDownloaded} downloaded]"));

        Assert.True(File.Exists(a.PathOf(Carried)), "the server's newer x.txt is not here: " + State(a, notes)
            + $"; trash: [{(Directory.Exists(Path.Combine(a.State.StateDirectory, "trash")) ? string.Join(", ", Directory.GetFiles(Path.Combine(a.State.StateDirectory, "trash"), "*", SearchOption.AllDirectories).Select(File.ReadAllText)) : "none")}]");
        Assert.Equal("made again by another device", a.Read(Carried));
        Assert.Equal("made again by another device".Length, (long)_server.Current(Carried)!.Size);
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// Control without any case-conflict move (the withheld paths' back-off alone, as on main): a synced file that cannot be
    /// read, a remote edit looked up and skipped again pass after pass (its back-off record), then a newer remote edit
    /// listed by the feed (the file still unreadable: it waits), then the file readable again with nothing else changed
    /// here. The newest edit must end up here.
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Control_a_backoff_record_never_shadows_a_newer_listed_edit()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using var a = new TestClient(_dir, "a", _server, chunker: inner => new RefusingChunkSource(inner, _denied));
        ChangeTimeTests.WriteSettled(a, "f.txt", "synced");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        using var b = new TestClient(_dir, "b", _server);
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        var full = a.PathOf("f.txt");
        ChangeTimeTests.MoveCtime(full, () => File.SetUnixFileMode(full, UnixFileMode.None));
        lock (_denied)
        {
            _denied.Add(full);
        }

        ChangeTimeTests.WriteSettled(b, "f.txt", "first remote edit");
        Assert.Equal(1, (await b.SyncAsync()).FilesUploaded);
        for (var i = 0; i < 6; i++)
        {
            Assert.Equal(0, (await a.SyncAsync()).Errors);
        }

        ChangeTimeTests.WriteSettled(b, "f.txt", "second remote edit, the newest");
        Assert.Equal(1, (await b.SyncAsync()).FilesUploaded);
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        File.SetUnixFileMode(full, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        lock (_denied)
        {
            _denied.Remove(full);
        }

        var notes = await Convergence.SettleAsync(a);

        var here = string.Join(", ", TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(f => $"{Path.GetRelativePath(a.Folder, f)}='{File.ReadAllText(f)}'"));
        Assert.True(File.Exists(full) && File.ReadAllText(full) == "second remote edit, the newest", $"here [{here}]; notes: [{string.Join(" | ", notes)}]");
        await Convergence.AssertSameAsync(_server, a, notes);
    }
}
