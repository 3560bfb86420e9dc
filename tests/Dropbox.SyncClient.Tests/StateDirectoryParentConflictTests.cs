using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;
using Dropbox.SyncClient.Tests.Contract;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A state directory kept inside the sync folder below its top level (<c>--state FOLDER/.cfg/client-state</c>) while
/// another device put a file at <c>.cfg</c>, through two real clients against a real metadata node and storage node.
/// This device cannot take that file (it would displace the state directory), so the file-against-folder conflict is
/// resolved for the folder here: the server's file is moved aside on the server to a conflicted copy (no byte lost,
/// every device sees it), and the user's own files beside the state directory go up.
/// </summary>
public sealed class StateDirectoryParentConflictTests(RealNodes nodes) : IClassFixture<RealNodes>, IDisposable
{
    private const string StateInFolder = ".cfg/client-state";

    private readonly TempFolder _dir = new();

    private readonly List<RealNodeDevice> _devices = [];

    public void Dispose()
    {
        foreach (var d in _devices)
        {
            d.Dispose();
        }

        _dir.Dispose();
    }

    [Fact]
    public async Task A_remote_file_at_the_state_directorys_parent_is_moved_aside_on_the_server_and_the_files_beside_the_state_directory_go_up()
    {
        var token = nodes.NewUserToken();
        var a = await DeviceWithAFileAtCfgAsync(token, "a's file named .cfg");

        var b = Device("b", token, StateInFolder);
        b.Write(".cfg/user.conf", "b's settings");
        b.Write("mine.txt", "b's own");

        var first = await b.SyncAsync(nodes.Url);
        var second = await b.SyncAsync(nodes.Url);

        AssertClean([(b.Name, first), (b.Name, second)]);
        Assert.True(second.Conflicts == 0 && second.Refusals.Count == 0, "the second pass did more than take what the first left: " + second);
        Assert.True(File.Exists(Path.Combine(b.PathOf(StateInFolder), LocalState.DatabaseFileName)), "the db was moved away from where the client opens it");
        var listed = await ServerFilesAsync(b);
        Assert.Equal((ulong)"b's settings".Length, Assert.Contains(".cfg/user.conf", listed).Size);
        Assert.DoesNotContain(listed.Keys, p => p.StartsWith(".cfg/client-state", StringComparison.Ordinal));
        var aside = Assert.Single(listed.Keys, ConflictNames.IsConflictedCopy);
        Assert.StartsWith(".cfg (conflicted copy b ", aside, StringComparison.Ordinal);
        Assert.Equal("a's file named .cfg", b.Read(aside)); // the server's bytes, downloaded here under the new name

        var passesOfA = new List<(string, SyncSummary)> { (a.Name, await a.SyncAsync(nodes.Url)), (a.Name, await a.SyncAsync(nodes.Url)) };
        var third = await b.SyncAsync(nodes.Url);
        AssertClean([.. passesOfA, (b.Name, third)]);
        Assert.Equal("b's settings", a.Read(".cfg/user.conf"));
        Assert.Equal("a's file named .cfg", a.Read(aside));
        Assert.Equal("b's own", a.Read("mine.txt"));
        Assert.True(third.Conflicts == 0, "b's last pass: " + third);
    }

    [Fact]
    public async Task A_remote_file_at_the_state_directorys_parent_stays_on_the_server_while_nothing_here_needs_the_folder()
    {
        // b keeps only its state directory in '.cfg': nothing of b's needs the folder, so a's file is neither taken nor
        // renamed, and no folder '.cfg' is put on the server; a's later versions of it go up as usual.
        var token = nodes.NewUserToken();
        var a = await DeviceWithAFileAtCfgAsync(token, "a's app config");

        var b = Device("b", token, StateInFolder);
        var passesOfB = new List<(string, SyncSummary)> { (b.Name, await b.SyncAsync(nodes.Url)), (b.Name, await b.SyncAsync(nodes.Url)) };
        AssertClean(passesOfB);
        Assert.All(passesOfB, p => Assert.True(p.Item2.Conflicts == 0 && p.Item2.Refusals.Count == 0, "b: " + p.Item2));
        var entries = await ServerEntriesAsync(b);
        Assert.True(entries.TryGetValue(".cfg", out var cfg) && cfg.Kind == EntryKind.File, "the server no longer holds a's file at '.cfg': " + string.Join(", ", entries.Keys));
        Assert.DoesNotContain(entries.Keys, ConflictNames.IsConflictedCopy);
        Assert.True(File.Exists(Path.Combine(b.PathOf(StateInFolder), LocalState.DatabaseFileName)));

        a.Write(".cfg", "a's app config, rewritten");
        var passesOfA = new List<(string, SyncSummary)> { (a.Name, await a.SyncAsync(nodes.Url)), (a.Name, await a.SyncAsync(nodes.Url)), (b.Name, await b.SyncAsync(nodes.Url)) };
        AssertClean(passesOfA);
        Assert.Equal("a's app config, rewritten", a.Read(".cfg"));
        entries = await ServerEntriesAsync(b);
        Assert.Equal((ulong)"a's app config, rewritten".Length, entries[".cfg"].Size);
        Assert.Equal(EntryKind.File, entries[".cfg"].Kind);
    }

    [Fact]
    public async Task A_remote_file_seen_at_the_state_directorys_parent_passes_ago_is_moved_aside_once_the_user_puts_a_file_beside_the_state_directory()
    {
        var token = nodes.NewUserToken();
        var a = await DeviceWithAFileAtCfgAsync(token, "a's file named .cfg");

        // b lists '.cfg' while nothing of its own is there: left alone, and the cursor moves past it.
        var b = Device("b", token, StateInFolder);
        var quiet = await b.SyncAsync(nodes.Url);
        AssertClean([(b.Name, quiet), (b.Name, await b.SyncAsync(nodes.Url))]);
        Assert.Equal(0, quiet.Conflicts);
        Assert.Equal(EntryKind.File, (await ServerEntriesAsync(b))[".cfg"].Kind);

        b.Write(".cfg/user.conf", "b's settings");
        var passes = new List<(string, SyncSummary)> { (b.Name, await b.SyncAsync(nodes.Url)), (b.Name, await b.SyncAsync(nodes.Url)) };
        AssertClean(passes);
        var listed = await ServerFilesAsync(b);
        Assert.Equal((ulong)"b's settings".Length, Assert.Contains(".cfg/user.conf", listed).Size);
        var aside = Assert.Single(listed.Keys, ConflictNames.IsConflictedCopy);
        Assert.Equal("a's file named .cfg", b.Read(aside));
        Assert.Null(b.State.GetSetting(StateKeys.FilesAboveStateDirectory)); // forgotten once the server no longer holds it
    }

    [Fact]
    public async Task A_device_whose_db_never_kept_the_files_above_its_state_directory_lists_once_and_moves_aside_the_file_its_cursor_went_past()
    {
        // An older client refused a's '.cfg' and moved its cursor past it without keeping it anywhere: the change feed
        // never lists it again, so without one whole listing b's file beside the state directory failed to go up every pass.
        var token = nodes.NewUserToken();
        var a = await DeviceWithAFileAtCfgAsync(token, "a's file named .cfg");
        var b = Device("b", token, StateInFolder);
        AssertClean([(b.Name, await b.SyncAsync(nodes.Url))]);
        Assert.NotNull(b.State.GetSetting(StateKeys.Cursor));
        b.State.SetSetting(StateKeys.FilesAboveStateDirectory, null); // the db as the older client left it
        b.State.SetSetting(StateKeys.FilesAboveStateDirectoryListed, null);

        b.Write(".cfg/user.conf", "b's settings");
        var listings = b.WholeListings;
        var passes = new List<(string, SyncSummary)> { (b.Name, await b.SyncAsync(nodes.Url)), (b.Name, await b.SyncAsync(nodes.Url)) };
        AssertClean(passes);
        Assert.Equal(1, b.WholeListings - listings); // listed once, then the change feed: not every pass
        var listed = await ServerFilesAsync(b);
        Assert.Equal((ulong)"b's settings".Length, Assert.Contains(".cfg/user.conf", listed).Size);
        var aside = Assert.Single(listed.Keys, ConflictNames.IsConflictedCopy);
        Assert.Equal("a's file named .cfg", b.Read(aside));
        Assert.Equal(StateInFolder, b.State.GetSetting(StateKeys.FilesAboveStateDirectoryListed));
        AssertClean([(a.Name, await a.SyncAsync(nodes.Url))]);
        Assert.Equal("b's settings", a.Read(".cfg/user.conf"));
    }

    [Fact]
    public async Task A_folder_that_holds_only_the_state_directory_is_never_created_on_the_server()
    {
        var b = Device("b", nodes.NewUserToken(), ".cfg/deep/client-state");
        b.Write("mine.txt", "b's own");
        AssertClean([(b.Name, await b.SyncAsync(nodes.Url)), (b.Name, await b.SyncAsync(nodes.Url))]);

        var entries = await ServerEntriesAsync(b);
        Assert.True(entries.ContainsKey("mine.txt"));
        Assert.DoesNotContain(entries.Keys, p => p == ".cfg" || p.StartsWith(".cfg/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_remote_empty_folder_under_the_old_path_of_a_file_a_remote_move_takes_from_here_is_made_in_the_same_pass()
    {
        // What a device moving a file aside on the server leaves for the others: the file moved ('A' -> 'B'), then a
        // folder 'A' with a file and an empty folder in it. Here 'A' follows the move before 'A/sub' is made.
        var token = nodes.NewUserToken();
        var a = Device("a", token);
        a.Write("A", "the file A");
        a.Write("keep.txt", "keep");
        AssertClean([(a.Name, await a.SyncAsync(nodes.Url))]);
        var c = Device("c", token);
        AssertClean([(c.Name, await c.SyncAsync(nodes.Url))]);
        Assert.Equal("the file A", c.Read("A"));

        var remote = a.Remote(nodes.Url);
        var fileA = (await ServerEntriesAsync(a))["A"];
        await remote.MoveFileAsync(new MoveFileRequest { FromPath = "A", ToPath = "B", BaseVersion = fileA.Version, Device = "w" }, CancellationToken.None);
        var w = Device("w", token);
        AssertClean([(w.Name, await w.SyncAsync(nodes.Url))]);
        w.Write("A/x", "x in folder A");
        AssertClean([(w.Name, await w.SyncAsync(nodes.Url))]);
        await remote.CreateFolderAsync(new CreateFolderRequest { Path = "A/sub", Device = "w" }, CancellationToken.None);

        var first = await c.SyncAsync(nodes.Url);
        AssertClean([(c.Name, first)]);
        Assert.Equal("the file A", c.Read("B"));
        Assert.Equal("x in folder A", c.Read("A/x"));
        Assert.True(Directory.Exists(c.PathOf("A/sub")), "the empty folder 'A/sub' was not made");
    }

    [Fact]
    public async Task A_file_edited_here_while_a_remote_move_was_to_take_it_keeps_the_pass_clean_and_what_the_server_holds_under_its_old_path_comes_next_pass()
    {
        // As above, but c's user edits 'A' after the plan and before its move runs (at c's first step, the new folder
        // 'zz'): the move is not applied (the edit is kept at 'A'), so 'A/x' cannot come down under it this pass. It
        // waits for the next pass's whole listing (the refused move asks for one), no error; then the edit becomes a
        // conflicted copy and both files are here.
        var token = nodes.NewUserToken();
        var a = Device("a", token);
        a.Write("A", "the file A");
        a.Write("keep.txt", "keep");
        AssertClean([(a.Name, await a.SyncAsync(nodes.Url))]);
        var c = Device("c", token);
        AssertClean([(c.Name, await c.SyncAsync(nodes.Url))]);

        var remote = a.Remote(nodes.Url);
        var fileA = (await ServerEntriesAsync(a))["A"];
        await remote.MoveFileAsync(new MoveFileRequest { FromPath = "A", ToPath = "B", BaseVersion = fileA.Version, Device = "w" }, CancellationToken.None);
        var w = Device("w", token);
        AssertClean([(w.Name, await w.SyncAsync(nodes.Url))]);
        w.Write("A/x", "x in folder A");
        AssertClean([(w.Name, await w.SyncAsync(nodes.Url))]);
        await remote.CreateFolderAsync(new CreateFolderRequest { Path = "zz", Device = "w" }, CancellationToken.None);

        var edited = false;
        c.State.Writer.Step = step =>
        {
            if (step == "before db record folder zz" && !edited)
            {
                File.AppendAllText(c.PathOf("A"), " + c's edit");
                edited = true;
            }
        };
        var first = await c.SyncAsync(nodes.Url);
        c.State.Writer.Step = null;
        Assert.True(edited, "the edit was never made");
        Assert.True(first.Errors == 0, "c's first pass: " + string.Join(" | ", first.ErrorMessages));
        Assert.Contains(first.Notes, n => n.Contains("remote move 'A' -> 'B' not applied here", StringComparison.Ordinal));
        Assert.Contains(first.Notes, n => n.StartsWith("skipped 'A/x': under a file a remote move could not take from here", StringComparison.Ordinal));
        Assert.Equal("the file A + c's edit", c.Read("A"));

        var passes = new List<(string, SyncSummary)> { (c.Name, await c.SyncAsync(nodes.Url)), (c.Name, await c.SyncAsync(nodes.Url)) };
        AssertClean(passes);
        Assert.Equal("x in folder A", c.Read("A/x"));
        Assert.Equal("the file A", c.Read("B"));
        var copy = Assert.Single(Directory.EnumerateFiles(c.Folder), f => ConflictNames.IsConflictedCopy(Path.GetFileName(f)));
        Assert.Equal("the file A + c's edit", File.ReadAllText(copy));
    }

    /// <summary>Device a, its folder holding a file named '.cfg' (and one more, so it is never empty), synced.</summary>
    private async Task<RealNodeDevice> DeviceWithAFileAtCfgAsync(string token, string content)
    {
        var a = Device("a", token);
        a.Write("keep.txt", "so the folder is never empty");
        a.Write(".cfg", content);
        AssertClean([(a.Name, await a.SyncAsync(nodes.Url))]);
        return a;
    }

    private RealNodeDevice Device(string name, string token, string? stateInFolder = null)
    {
        var d = new RealNodeDevice(_dir, name, token, stateInFolder);
        _devices.Add(d);
        return d;
    }

    /// <summary>The live entries (files and folders) on the server, by path.</summary>
    private async Task<Dictionary<string, FileEntry>> ServerEntriesAsync(RealNodeDevice d)
    {
        var listed = await d.Remote(nodes.Url).ListFilesAsync(new ListFilesRequest(), CancellationToken.None);
        return listed.Entries.Where(e => !e.Deleted).ToDictionary(e => e.Path, StringComparer.Ordinal);
    }

    /// <summary>The live files on the server, by path.</summary>
    private async Task<Dictionary<string, FileEntry>> ServerFilesAsync(RealNodeDevice d) =>
        (await ServerEntriesAsync(d)).Where(e => e.Value.Kind == EntryKind.File).ToDictionary(StringComparer.Ordinal);

    private static void AssertClean(List<(string Name, SyncSummary Pass)> passes)
    {
        var errors = passes.SelectMany(p => p.Pass.ErrorMessages.Select(m => $"{p.Name}: {m}")).ToList();
        var skips = passes.SelectMany(p => p.Pass.Notes.Where(n => n.StartsWith("skipped", StringComparison.Ordinal)).Select(n => $"{p.Name}: {n}")).ToList();
        Assert.True(errors.Count + skips.Count == 0, "errors: " + string.Join(" | ", errors) + " skips: " + string.Join(" | ", skips));
    }
}
