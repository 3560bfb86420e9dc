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
        var a = Device("a", token);
        a.Write("keep.txt", "so the folder is never empty");
        a.Write(".cfg", "a's file named .cfg");
        AssertClean([(a.Name, await a.SyncAsync(nodes.Url))]);

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

    private RealNodeDevice Device(string name, string token, string? stateInFolder = null)
    {
        var d = new RealNodeDevice(_dir, name, token, stateInFolder);
        _devices.Add(d);
        return d;
    }

    /// <summary>The live files on the server, by path.</summary>
    private async Task<Dictionary<string, FileEntry>> ServerFilesAsync(RealNodeDevice d)
    {
        var listed = await d.Remote(nodes.Url).ListFilesAsync(new ListFilesRequest(), CancellationToken.None);
        return listed.Entries.Where(e => e.Kind == EntryKind.File && !e.Deleted).ToDictionary(e => e.Path, StringComparer.Ordinal);
    }

    private static void AssertClean(List<(string Name, SyncSummary Pass)> passes)
    {
        var errors = passes.SelectMany(p => p.Pass.ErrorMessages.Select(m => $"{p.Name}: {m}")).ToList();
        var skips = passes.SelectMany(p => p.Pass.Notes.Where(n => n.StartsWith("skipped", StringComparison.Ordinal)).Select(n => $"{p.Name}: {n}")).ToList();
        Assert.True(errors.Count + skips.Count == 0, "errors: " + string.Join(" | ", errors) + " skips: " + string.Join(" | ", skips));
    }
}
