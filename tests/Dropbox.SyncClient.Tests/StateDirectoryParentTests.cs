using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A state directory kept inside the sync folder below its top level (<c>--folder ~ --state ~/.cfg/client-state</c>):
/// a remote file at a folder above it would make that folder a file-against-folder conflict, moved aside with the db,
/// its lock and the trash in it. Such a file is never taken; while nothing of the user's lies beside the state directory it
/// stays as it is on the server (see <see cref="StateDirectoryParentConflictTests"/> for the move aside when something does).
/// </summary>
public sealed class StateDirectoryParentTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_remote_file_at_a_folder_holding_only_the_state_directory_is_never_taken_nor_moved_and_the_state_directory_stays()
    {
        using var a = new TestClient(_dir, "a", _server);
        ChangeTimeTests.WriteSettled(a, "keep.txt", "keep");
        ChangeTimeTests.WriteSettled(a, ".cfg", "a's file named .cfg");
        await a.SyncAsync();

        var folder = _dir.CreateSub("b-folder");
        var stateDir = Path.Combine(folder, ".cfg", "client-state");
        File.WriteAllText(Path.Combine(folder, "mine.txt"), "b's own");
        using var state = LocalState.Open(stateDir);
        var passes = new List<SyncSummary>();
        for (var i = 0; i < 3; i++)
        {
            passes.Add(await PassAsync(folder, state));
        }

        Assert.True(File.Exists(Path.Combine(stateDir, LocalState.DatabaseFileName)), "the db was moved away from where the client opens it");
        Assert.DoesNotContain(Directory.EnumerateDirectories(folder), d => Path.GetFileName(d).Contains("conflicted copy", StringComparison.Ordinal));
        Assert.All(passes, p => Assert.True(p.Errors + p.Refused + p.Conflicts == 0, p.ToString()));
        Assert.Equal("keep", File.ReadAllText(Path.Combine(folder, "keep.txt")));
        Assert.NotNull(_server.Current("mine.txt"));

        // Nothing of b's lies beside the state directory: the file stays on the server, not renamed, not taken here.
        Assert.Equal(EntryKind.File, _server.Current(".cfg")?.Kind);
        Assert.DoesNotContain(Directory.EnumerateFiles(folder), f => ConflictNames.IsConflictedCopy(Path.GetFileName(f)));
        Assert.True(Directory.Exists(Path.Combine(folder, ".cfg")));
        Assert.Equal("a's file named .cfg", a.Read(".cfg")); // a has not synced since
    }

    [Fact]
    public async Task A_db_that_never_kept_the_files_above_the_state_directory_lists_everything_once_and_moves_aside_the_file_its_cursor_went_past()
    {
        using var a = new TestClient(_dir, "a", _server);
        ChangeTimeTests.WriteSettled(a, "keep.txt", "keep");
        await a.SyncAsync();
        var folder = _dir.CreateSub("b-folder");
        using var state = LocalState.Open(Path.Combine(folder, ".cfg", "client-state"));
        Assert.Equal(0, (await PassAsync(folder, state)).Errors);
        ChangeTimeTests.WriteSettled(a, ".cfg", "a's file named .cfg");
        await a.SyncAsync();

        // As an older client left its db: '.cfg' refused, the cursor moved past it, nothing of it kept.
        state.Writer.SetCursor((await _server.GetAccountAsync(CancellationToken.None)).Cursor);
        state.SetSetting(StateKeys.FilesAboveStateDirectory, null);
        state.SetSetting(StateKeys.FilesAboveStateDirectoryListed, null);
        File.WriteAllText(Path.Combine(folder, ".cfg", "user.conf"), "b's settings");
        File.SetLastWriteTimeUtc(Path.Combine(folder, ".cfg", "user.conf"), DateTime.UtcNow.AddHours(-1));
        var listings = _server.ListFilesCalls;
        var passes = new List<SyncSummary>();
        for (var i = 0; i < 3; i++)
        {
            passes.Add(await PassAsync(folder, state));
        }

        Assert.All(passes, p => Assert.True(p.Errors == 0, p + " | " + string.Join(" | ", p.ErrorMessages)));
        Assert.Equal((ulong)"b's settings".Length, _server.Current(".cfg/user.conf")?.Size ?? 0);
        var aside = Assert.Single(Directory.EnumerateFiles(folder), f => ConflictNames.IsConflictedCopy(Path.GetFileName(f)));
        Assert.Equal("a's file named .cfg", File.ReadAllText(aside));
        Assert.Equal(1, _server.ListFilesCalls - listings); // one listing, then the change feed
    }

    [Fact]
    public async Task A_remote_file_put_back_over_the_folder_of_files_synced_beside_the_state_directory_is_moved_aside_again()
    {
        // The review's R8: b moves a's '.cfg' aside and uploads its '.cfg/user.conf' while a's edit of '.cfg' is on its
        // way; the fake server takes a's commit over the folder (the metadata node refuses a file over a live folder), so
        // '.cfg' is a file on the server again while b's only file there is synced and clean, never listed by b's scan:
        // its synced row must still count as needing the folder (else b leaves the file and a never gets b's file).
        using var a = new TestClient(_dir, "a", _server);
        ChangeTimeTests.WriteSettled(a, "keep.txt", "keep");
        ChangeTimeTests.WriteSettled(a, ".cfg", "v1");
        await a.SyncAsync();
        var folder = _dir.CreateSub("b-folder");
        using var state = LocalState.Open(Path.Combine(folder, ".cfg", "client-state"));
        File.WriteAllText(Path.Combine(folder, ".cfg", "user.conf"), "b's settings");
        File.SetLastWriteTimeUtc(Path.Combine(folder, ".cfg", "user.conf"), DateTime.UtcNow.AddHours(-1));

        ChangeTimeTests.WriteSettled(a, ".cfg", "v2 edited on a");
        var passes = new List<SyncSummary>();
        var once = false;
        async Task BeforeAsync(string path)
        {
            if (!once && path == ".cfg")
            {
                once = true;
                passes.Add(await PassAsync(folder, state));
            }
        }

        _server.BeforeCommitFiles = async (request, _) =>
        {
            foreach (var f in request.Files)
            {
                await BeforeAsync(f.Path);
            }
        };
        _server.BeforePlanUpload = p => BeforeAsync(p).GetAwaiter().GetResult();
        await a.SyncAsync();
        _server.BeforeCommitFiles = null;
        _server.BeforePlanUpload = null;
        Assert.True(once, "b's pass never ran during a's upload");
        Assert.Equal(EntryKind.File, _server.Current(".cfg")?.Kind);
        Assert.NotNull(_server.Current(".cfg/user.conf"));

        for (var i = 0; i < 2; i++)
        {
            passes.Add(await PassAsync(folder, state));
            passes.Add(await a.SyncAsync());
        }

        Assert.All(passes, p => Assert.True(p.Errors == 0, p + " | " + string.Join(" | ", p.ErrorMessages)));
        var onA = Directory.EnumerateFiles(a.Folder, "*", SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        Assert.Contains("v2 edited on a", onA);
        Assert.Contains("v1", onA);
        Assert.Equal("b's settings", a.Read(".cfg/user.conf"));
        Assert.NotEqual(EntryKind.File, _server.Current(".cfg")?.Kind);
    }

    /// <summary>One pass of device b, its state directory in its folder (as <c>sync --once</c>: a fresh engine).</summary>
    private Task<SyncSummary> PassAsync(string folder, LocalState state) => new SyncEngine(new SyncContext
    {
        Folder = folder,
        State = state,
        Metadata = _server,
        Transfer = _server,
        Chunker = new PipelineChunkSource(new Dropbox.Shared.Chunking.FastCdcChunker(TestClient.SmallChunks), compress: true, parallelism: 2),
        Device = "b",
        Options = new SyncOptions(),
        Barrier = DurabilityBarrier.Default,
        Time = TimeProvider.System,
        ExecutableBitProbe = ExecutableBitProbe.Holds,
        CaseProbe = CaseProbe.Folds,
        Progress = new SyncProgress(),
    }).RunPassAsync(CancellationToken.None);
}
