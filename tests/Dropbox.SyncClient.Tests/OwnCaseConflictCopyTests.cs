using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Review rd51b's probes of a step (dropped) that moved rows left at the old name by what was on disk, and of
/// <see cref="Sync.DeletesBeforeCaseMoves"/>, each a theory whose control ("docs2") is the same sequence with a plain
/// name: a name that only looks like a case-conflict name ("docs (Case Conflict)", the user's or another device's own
/// choice) must not change what happens to a user's file.
/// </summary>
public sealed class OwnCaseConflictCopyTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private async Task<TestClient> SyncedAsync(params string[] folders)
    {
        var a = new TestClient(_dir, "a", _server);
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "web" }, CancellationToken.None);
        foreach (var folder in folders)
        {
            await _server.CreateFolderAsync(new CreateFolderRequest { Path = folder, Device = "web" }, CancellationToken.None);
        }

        if (folders.Length == 0)
        {
            await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/x.txt", "x from web");
            await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/y.txt", "y from web", client: "web2");
        }

        Assert.Equal(0, (await a.SyncAsync()).Errors);
        return a;
    }

    private static string State(TestClient a, List<string> notes) =>
        $"here [{string.Join(", ", TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Folder, f)))}]; notes: [{string.Join(" | ", notes)}]";

    /// <summary>What <c>cp -a</c> does: the same bytes, the same mtime, a new file (new inode, new ctime).</summary>
    private static void CopyKeepingTimes(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            var copy = Path.Combine(to, Path.GetFileName(file));
            File.Copy(file, copy);
            File.SetLastWriteTimeUtc(copy, File.GetLastWriteTimeUtc(file));
        }
    }

    /// <summary>
    /// Here: the user copies docs with <c>cp -a</c> to <paramref name="target"/>, adds an own note.txt, removes docs.
    /// There: another device moves docs to <paramref name="target"/> and then deletes x.txt in it. With the plain name the
    /// user's copy of x.txt is a file of its own (no row): it is kept and sent again. The check takes the copy for the
    /// renamed synced file (same size and mtime), the rows follow, and the other device's delete deletes the user's copy.
    /// </summary>
    [Theory]
    [InlineData("docs2")]
    [InlineData("docs (Case Conflict)")]
    public async Task A_cp_a_copy_at_the_name_another_device_moves_to_is_not_taken_for_the_synced_files(string target)
    {
        using var a = await SyncedAsync();
        CopyKeepingTimes(a.PathOf("docs"), a.PathOf(target));
        a.Write($"{target}/note.txt", "own note");
        Directory.Delete(a.PathOf("docs"), recursive: true);
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = "docs", ToPath = target, Device = "b" }, CancellationToken.None);
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = $"{target}/x.txt", Device = "b" }, CancellationToken.None);

        var notes = await Convergence.SettleAsync(a);

        Assert.Equal("own note", a.Read($"{target}/note.txt"));
        Assert.True(File.Exists(a.PathOf($"{target}/x.txt")), "the user's cp -a copy of x.txt was deleted here (the control keeps and sends it): " + State(a, notes));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// A synced folder with no file rows, only a sub-folder (docs/sub). Here: docs removed, an own folder
    /// <paramref name="target"/>/sub made with an own file. There: docs moved to <paramref name="target"/>, then its sub
    /// deleted. The check passes vacuously for the file rows (there are none) and on the sub-folder's existence alone.
    /// The own file must be kept here and sent.
    /// </summary>
    [Theory]
    [InlineData("docs2")]
    [InlineData("docs (Case Conflict)")]
    public async Task An_own_file_in_a_folder_whose_rows_are_only_folders_is_kept(string target)
    {
        using var a = await SyncedAsync("docs/sub");
        Directory.Delete(a.PathOf("docs"), recursive: true);
        a.Write($"{target}/sub/own.txt", "own, made here");
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = "docs", ToPath = target, Device = "b" }, CancellationToken.None);
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = $"{target}/sub", Device = "b" }, CancellationToken.None);

        var notes = await Convergence.SettleAsync(a);

        Assert.True(File.Exists(a.PathOf($"{target}/sub/own.txt")), "the own file was deleted here: " + State(a, notes));
        Assert.True(_server.Current($"{target}/sub/own.txt") is not null, "the own file never reached the server: " + State(a, notes));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// <see cref="Sync.DeletesBeforeCaseMoves"/> on another device's plain rename to a name that looks like a case-conflict
    /// name. Here: x.txt edited. There: a device deletes docs/x.txt, then another renames docs to <paramref name="target"/>;
    /// both in one feed page. The edit must be kept (here and on the server) and the two sides end the same.
    /// </summary>
    [Theory]
    [InlineData("docs2")]
    [InlineData("docs (Case Conflict)")]
    public async Task An_edit_here_of_a_file_deleted_before_a_rename_to_a_case_conflict_looking_name_is_kept(string target)
    {
        using var a = await SyncedAsync();
        File.WriteAllText(a.PathOf("docs/x.txt"), "x edited here, longer");
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = "docs/x.txt", Device = "c" }, CancellationToken.None);
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = "docs", ToPath = target, Device = "b" }, CancellationToken.None);

        var notes = await Convergence.SettleAsync(a);

        var contents = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        Assert.True(contents.Contains("x edited here, longer"), "the edit here is lost: " + State(a, notes));
        Assert.Equal("y from web", a.Read($"{target}/y.txt"));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// The delete <see cref="Sync.DeletesBeforeCaseMoves"/> moves is of a file this client never synced (made and deleted
    /// by another device within the feed window), at the path where the user here made an own x.txt (no row). There:
    /// docs renamed to <paramref name="target"/>. The synthetic "moved to" of the old path must not carry or delete the
    /// user's own file.
    /// </summary>
    [Theory]
    [InlineData("docs2")]
    [InlineData("docs (Case Conflict)")]
    public async Task An_own_new_file_at_the_path_of_a_remote_delete_before_the_rename_is_kept(string target)
    {
        using var a = await SyncedAsync();
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/z.txt", "z from web, short-lived");
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = "docs/z.txt", Device = "web" }, CancellationToken.None);
        a.Write("docs/z.txt", "own z, made here");
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = "docs", ToPath = target, Device = "b" }, CancellationToken.None);

        var notes = await Convergence.SettleAsync(a);

        var contents = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        Assert.True(contents.Contains("own z, made here"), "the own z.txt is lost here: " + State(a, notes));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// Here: <c>cp -a docs "target"</c>, then the copy of x.txt rewritten with other bytes of the same size and its mtime put
    /// back (<c>touch -r</c>, an editor or sync tool that keeps times), docs removed. There: docs moved to
    /// <paramref name="target"/>. The stamp check (size, mtime) passes, the rows follow, and the copy's bytes (a ctime
    /// moved, read: they differ) are taken as an edit of the other device's x.txt and sent over it with no conflict copy;
    /// with the plain name they are a newcomer beside it (both kept). rd51's HIGH, narrowed to a copy with its times kept.
    /// </summary>
    [Theory]
    [InlineData("docs2")]
    [InlineData("docs (Case Conflict)")]
    public async Task A_same_size_own_file_with_its_mtime_put_back_is_not_sent_over_the_other_devices_file(string target)
    {
        using var a = await SyncedAsync();
        CopyKeepingTimes(a.PathOf("docs"), a.PathOf(target));
        var mtime = File.GetLastWriteTimeUtc(a.PathOf($"{target}/x.txt"));
        File.WriteAllText(a.PathOf($"{target}/x.txt"), "X FROM ME!");
        File.SetLastWriteTimeUtc(a.PathOf($"{target}/x.txt"), mtime);
        Directory.Delete(a.PathOf("docs"), recursive: true);
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = "docs", ToPath = target, Device = "b" }, CancellationToken.None);

        var notes = await Convergence.SettleAsync(a);

        var contents = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        Assert.True(contents.Contains("X FROM ME!"), "the own x.txt is lost: " + State(a, notes));
        Assert.True(contents.Contains("x from web"), "the other device's x.txt is overwritten: " + State(a, notes));
        await Convergence.AssertSameAsync(_server, a, notes);
    }

    /// <summary>
    /// <see cref="Sync.DeletesBeforeCaseMoves"/> on a folder delete: there, docs/sub (with a synced a.txt) deleted by one
    /// device, then docs renamed to <paramref name="target"/> by another, in one feed page; here, an own file made in
    /// docs/sub meanwhile. The own file must be kept (here and on the server) and the two sides end the same.
    /// </summary>
    [Theory]
    [InlineData("docs2")]
    [InlineData("docs (Case Conflict)")]
    public async Task An_own_file_in_a_sub_folder_deleted_before_the_rename_is_kept(string target)
    {
        using var a = await SyncedAsync();
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs/sub", Device = "web" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/sub/a.txt", "a from web");
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        a.Write("docs/sub/own.txt", "own, made here");
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = "docs/sub", Device = "c" }, CancellationToken.None);
        await _server.MoveFileAsync(new MoveFileRequest { FromPath = "docs", ToPath = target, Device = "b" }, CancellationToken.None);

        var notes = await Convergence.SettleAsync(a);

        var contents = TestClient.FilesIn(a.Folder, option: SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        Assert.True(contents.Contains("own, made here"), "the own file is lost here: " + State(a, notes));
        Assert.False(contents.Contains("a from web"), "a.txt, deleted there, is back: " + State(a, notes));
        await Convergence.AssertSameAsync(_server, a, notes);
    }
}
