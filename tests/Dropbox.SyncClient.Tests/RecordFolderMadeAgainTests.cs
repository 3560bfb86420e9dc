using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// <c>SyncActionKind.RecordFolder</c> (from a review's probes): a synced folder that another device deletes and makes
/// again on the server with other children. The row takes the listed version before the pass has applied anything under
/// the folder (deletes and downloads run after the row steps), so these check that nothing under it is lost, resurrected
/// or left different, also with a crash right after the row is written and with a later case-conflict rename of it.
/// </summary>
public sealed class RecordFolderMadeAgainTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task folder_made_again_with_other_children_keeps_an_edit_here_and_converges()
    {
        using var b = new TestClient(_dir, "b", _server);
        await SyncedDocsAsync(b);

        // B edits x.txt; meanwhile another device deletes 'docs' (x.txt with it) and makes it again with z.txt alone.
        ChangeTimeTests.WriteSettled(b, "docs/x.txt", "edited on b");
        await RemakeDocsWithAsync("docs/z.txt", "new child");

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        Assert.Equal(_server.Current("docs")!.Version, b.State.GetFile("docs")!.Version);
        Assert.Equal("edited on b", b.Read("docs/x.txt"));
        Assert.Equal("new child", b.Read("docs/z.txt"));
        Assert.Equal(["docs/x.txt", "docs/z.txt", "other.txt"], await ServerFilesAsync());
    }

    [Fact]
    public async Task crash_right_after_the_folder_row_takes_the_new_version_still_applies_its_children()
    {
        using var b = new TestClient(_dir, "b", _server);
        await SyncedDocsAsync(b);
        await RemakeDocsWithAsync("docs/z.txt", "new child");

        var crashed = false;
        b.State.Writer.Step = step =>
        {
            if (step == "after db record folder docs")
            {
                crashed = true;
                throw new InvalidOperationException("simulated crash after RecordFolder");
            }
        };
        try
        {
            await b.SyncAsync();
        }
        catch (InvalidOperationException)
        {
        }

        b.State.Writer.Step = null;
        Assert.True(crashed, "no RecordFolder of 'docs' was run");

        var engine = new SyncEngine(b.Context); // the restarted client
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await engine.RunPassAsync(CancellationToken.None)).Errors);
        }

        Assert.False(File.Exists(b.PathOf("docs/x.txt")), "the server's delete of x.txt was lost here");
        Assert.Equal("new child", b.Read("docs/z.txt"));
        Assert.Equal(["docs/z.txt", "other.txt"], await ServerFilesAsync());
    }

    [Fact]
    public async Task folder_made_again_with_other_children_then_renamed_for_a_case_clash_loses_and_resurrects_nothing()
    {
        using var b = new TestClient(_dir, "b", _server);
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "web" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/x.txt", "old child");
        Assert.Equal(0, (await b.SyncAsync()).Errors);

        // 'Docs' from the web (the older name on the server), then 'docs' deleted and made again with z.txt alone.
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "Docs", Device = "web" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "Docs/y.txt", "other", client: "web2");
        await RemakeDocsWithAsync("docs/z.txt", "new child");
        Assert.Equal(0, (await b.SyncAsync()).Errors);

        var notes = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var pass = await b.SyncAsync();
            Assert.Equal(0, pass.Errors);
            notes.AddRange(pass.Notes);
        }

        var server = await ServerFilesAsync();
        Assert.True(server.SequenceEqual(["Docs/y.txt", "docs (Case Conflict)/z.txt"]), $"the server holds [{string.Join(", ", server)}]; notes: [{string.Join(" | ", notes)}]");
        var here = TestClient.FilesIn(b.Folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(b.Folder, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith('.')).Order(StringComparer.Ordinal).ToList();
        Assert.True(here.SequenceEqual(server), $"here: [{string.Join(", ", here)}], the server: [{string.Join(", ", server)}]");
    }

    [Fact]
    public async Task folder_made_again_while_a_new_file_is_added_here_in_it_sends_the_file()
    {
        using var b = new TestClient(_dir, "b", _server);
        await SyncedDocsAsync(b);

        ChangeTimeTests.WriteSettled(b, "docs/n.txt", "new on b");
        await RemakeDocsWithAsync("docs/z.txt", "new child");
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await b.SyncAsync()).Errors);
        }

        Assert.Equal(_server.Current("docs")!.Version, b.State.GetFile("docs")!.Version);
        Assert.False(File.Exists(b.PathOf("docs/x.txt")));
        Assert.Equal(["docs/n.txt", "docs/z.txt", "other.txt"], await ServerFilesAsync());
    }

    /// <summary>'docs' made on the server as a folder of its own (so B holds a row for it), with x.txt; other.txt beside it (no mass-delete guard); B synced.</summary>
    private async Task SyncedDocsAsync(TestClient b)
    {
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "web" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "docs/x.txt", "synced");
        await TestClient.CommitAsOtherClientAsync(_dir, _server, "other.txt", "stays", client: "web1");
        Assert.Equal(0, (await b.SyncAsync()).Errors);
        Assert.NotNull(b.State.GetFile("docs"));
    }

    private async Task RemakeDocsWithAsync(string child, string text)
    {
        await _server.DeleteFileAsync(new DeleteFileRequest { Path = "docs", Device = "c" }, CancellationToken.None);
        await _server.CreateFolderAsync(new CreateFolderRequest { Path = "docs", Device = "c" }, CancellationToken.None);
        await TestClient.CommitAsOtherClientAsync(_dir, _server, child, text, client: "web9");
    }

    private async Task<List<string>> ServerFilesAsync() =>
        (await _server.ListFilesAsync(new ListFilesRequest { Prefix = string.Empty }, CancellationToken.None)).Entries
            .Where(e => e.Kind == EntryKind.File && !e.Deleted && !e.Path.StartsWith("staging/", StringComparison.Ordinal))
            .Select(e => e.Path).Order(StringComparer.Ordinal).ToList();
}

/// <summary>A synced folder whose kind changed on one side is never a RecordFolder.</summary>
public sealed class RecordFolderKindTests
{
    // Here / row / remote (at version 7; the row at 3).
    [Theory]
    [InlineData("file", "folder", "folder")] // replaced here by a file, made again remotely: a kind clash
    [InlineData("folder", "folder", "file")] // replaced remotely by a file: the folder leaves for it
    [InlineData("folder", "file", "folder")] // the row alone differs: decided as never synced
    public void a_kind_change_on_one_side_is_never_recorded_as_the_folder(string here, string row, string remote)
    {
        var snapshot = new Dropbox.SyncClient.Local.LocalSnapshot();
        snapshot.Entries["d"] = here == "folder" ? Dropbox.SyncClient.Local.LocalEntry.Folder("d")
            : new Dropbox.SyncClient.Local.LocalEntry("d", Dropbox.SyncClient.State.FileKind.File, 4, 1, SettlesIn: null);
        var kind = (string k) => k == "folder" ? Dropbox.SyncClient.State.FileKind.Folder : Dropbox.SyncClient.State.FileKind.File;
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, Dropbox.SyncClient.State.FileRecord> { ["d"] = new("d", kind(row), row == "file" ? 4 : 0, 1, 3, row == "file" ? new byte[32] : []) },
            Local = snapshot,
            Fingerprints = new Dictionary<string, Dropbox.SyncClient.Local.FileFingerprint>(),
            Remote = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal) { ["d"] = new RemoteEntry("d", kind(remote), 7, false, remote == "file" ? 5 : 0, remote == "file" ? new byte[32] : [], 0) },
        });

        Assert.DoesNotContain(plan, a => a.Kind == SyncActionKind.RecordFolder);
    }
}
