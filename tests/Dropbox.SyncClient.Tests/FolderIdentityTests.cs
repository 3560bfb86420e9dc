using System.Collections.Concurrent;
using System.Diagnostics;
using Dropbox.Shared.Errors;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A sync folder replaced by another one at the same path (moved away and an empty one made, a drive's empty mount
/// point) is not "every file deleted": the pass stops, the server keeps its files, and only a confirmation takes the
/// folder as new (merged, nothing deleted). An emptied folder never deletes without --allow-mass-delete.
/// </summary>
public sealed class FolderIdentityTests : IDisposable
{
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    private static readonly string[] Files = ["a.txt", "b.txt", "docs/c.txt", "docs/d.txt", "e.txt"];

    private async Task<TestClient> SyncedClientAsync()
    {
        var a = new TestClient(_dir, "a", _server);
        foreach (var f in Files)
        {
            a.Write(f, "content of " + f);
        }

        await a.SyncAsync();
        Assert.All(Files, f => Assert.NotNull(_server.Current(f)));
        Assert.True(File.Exists(a.PathOf(FolderIdentity.MarkerName)));
        Assert.Null(_server.Current(FolderIdentity.MarkerName)); // the marker itself is never uploaded
        return a;
    }

    [Fact]
    public async Task A_folder_replaced_by_an_empty_one_deletes_nothing_on_the_server_until_confirmed_and_then_is_merged()
    {
        using var a = await SyncedClientAsync();
        Directory.Move(a.Folder, a.Folder + ".away");
        Directory.CreateDirectory(a.Folder);

        var stop = await Assert.ThrowsAsync<DropboxException>(() => a.SyncAsync());
        Assert.True(stop.Details.ContainsKey(FolderIdentity.DetailKey));
        Assert.Contains("not the folder that was synced", stop.Message, StringComparison.Ordinal);
        Assert.Contains("--confirm-new-folder", stop.Message, StringComparison.Ordinal);
        Assert.All(Files, f => Assert.NotNull(_server.Current(f)));

        // Confirmed as a new folder: merged with the server (everything comes down), nothing deleted.
        await a.SyncAsync(new SyncOptions { ConfirmNewFolder = true });
        Assert.All(Files, f => Assert.NotNull(_server.Current(f)));
        Assert.All(Files, f => Assert.Equal("content of " + f, a.Read(f)));
        await a.SyncAsync(); // the new folder's marker is the one remembered now
    }

    /// <summary>Makes the client's db look like one from before folder markers: no id remembered, no marker file.</summary>
    private static void MakeOldDb(TestClient a)
    {
        a.State.SetSetting(StateKeys.FolderId, null);
        File.Delete(a.PathOf(FolderIdentity.MarkerName));
    }

    [Fact]
    public async Task A_db_from_before_markers_refuses_a_folder_replaced_by_an_empty_one_until_confirmed()
    {
        using var a = await SyncedClientAsync();
        MakeOldDb(a);
        Directory.Move(a.Folder, a.Folder + ".away");
        Directory.CreateDirectory(a.Folder);

        var stop = await Assert.ThrowsAsync<DropboxException>(() => a.SyncAsync());
        Assert.True(stop.Details.ContainsKey(FolderIdentity.DetailKey));
        Assert.Contains("before folder markers", stop.Message, StringComparison.Ordinal);
        Assert.All(Files, f => Assert.NotNull(_server.Current(f)));
        Assert.False(File.Exists(a.PathOf(FolderIdentity.MarkerName)));

        await a.SyncAsync(new SyncOptions { ConfirmNewFolder = true });
        Assert.All(Files, f => Assert.NotNull(_server.Current(f)));
        Assert.All(Files, f => Assert.Equal("content of " + f, a.Read(f)));
        await a.SyncAsync();
    }

    [Fact]
    public async Task A_db_from_before_markers_takes_its_own_folder_but_deletes_on_the_server_only_when_confirmed()
    {
        using var a = await SyncedClientAsync();
        MakeOldDb(a);
        File.Delete(a.PathOf("e.txt"));

        var stop = await Assert.ThrowsAsync<DropboxException>(() => a.SyncAsync());
        Assert.True(stop.Details.ContainsKey(FolderIdentity.DetailKey));
        Assert.Contains("would delete 1 entry", stop.Message, StringComparison.Ordinal);
        Assert.NotNull(_server.Current("e.txt"));
        Assert.False(File.Exists(a.PathOf(FolderIdentity.MarkerName))); // not adopted: the next pass checks again

        var pass = await a.SyncAsync(new SyncOptions { AllowMassDelete = true });

        Assert.Equal(0, pass.Errors);
        Assert.Null(_server.Current("e.txt"));
        Assert.NotNull(_server.Current("a.txt"));
        Assert.True(File.Exists(a.PathOf(FolderIdentity.MarkerName)));
        await a.SyncAsync(); // adopted: an ordinary pass now
    }

    [Fact]
    public async Task A_db_from_before_markers_takes_its_own_untouched_folder_without_confirmation()
    {
        using var a = await SyncedClientAsync();
        MakeOldDb(a);
        a.Write("new.txt", "new");

        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors);
        Assert.NotNull(_server.Current("new.txt"));
        Assert.True(File.Exists(a.PathOf(FolderIdentity.MarkerName)));
    }

    [Fact]
    public async Task A_db_from_before_markers_refuses_a_replacement_folder_holding_another_links_marker()
    {
        using var a = await SyncedClientAsync();
        MakeOldDb(a);
        Directory.Move(a.Folder, a.Folder + ".away");
        Directory.CreateDirectory(a.Folder);
        File.WriteAllText(a.PathOf(FolderIdentity.MarkerName), "another-link-id\n");
        a.Write("other.txt", "not one of ours"); // not empty, and fewer deletes than the mass-delete guard counts

        var stop = await Assert.ThrowsAsync<DropboxException>(() => a.SyncAsync());

        Assert.True(stop.Details.ContainsKey(FolderIdentity.DetailKey));
        Assert.All(Files, f => Assert.NotNull(_server.Current(f)));
    }

    [Fact]
    public async Task A_db_from_before_markers_samples_all_of_the_folder_not_its_first_paths()
    {
        // 100 files under a/ come first in path order; the 40 under z/ are gone (a folder moved away). A sample of the
        // first paths sees everything in place; the pass would then delete the 40 (under the mass-delete guard's share).
        var a = new TestClient(_dir, "a", _server);
        using var client = a;
        for (var i = 0; i < 100; i++)
        {
            a.Write($"a/{i:D3}.txt", "a" + i);
        }

        for (var i = 0; i < 40; i++)
        {
            a.Write($"z/{i:D3}.txt", "z" + i);
        }

        await a.SyncAsync();
        MakeOldDb(a);
        Directory.Move(a.PathOf("z"), a.Folder + ".z-away");

        var stop = await Assert.ThrowsAsync<DropboxException>(() => a.SyncAsync());

        Assert.True(stop.Details.ContainsKey(FolderIdentity.DetailKey));
        Assert.All(Enumerable.Range(0, 40), i => Assert.NotNull(_server.Current($"z/{i:D3}.txt")));
    }

    [Fact]
    public async Task A_folder_replaced_by_one_holding_some_of_the_files_is_refused_too()
    {
        using var a = await SyncedClientAsync();
        Directory.Move(a.Folder, a.Folder + ".away");
        a.Write("a.txt", "content of a.txt");

        await Assert.ThrowsAsync<DropboxException>(() => a.SyncAsync());
        Assert.All(Files, f => Assert.NotNull(_server.Current(f)));
    }

    [Fact]
    public async Task An_emptied_folder_deletes_nothing_without_allow_mass_delete_even_with_fewer_files_than_the_guard_counts()
    {
        using var a = await SyncedClientAsync();
        // The marker stays (or a db from before markers, which has no id): only the rule for an empty root applies.
        foreach (var f in Files)
        {
            File.Delete(a.PathOf(f));
        }

        Directory.Delete(a.PathOf("docs"));
        var stop = await Assert.ThrowsAsync<DropboxException>(() => a.SyncAsync());
        Assert.True(stop.Details.ContainsKey(MassDeleteGuard.DetailKey));
        Assert.Contains("--allow-mass-delete", stop.Message, StringComparison.Ordinal);
        Assert.Contains("the sync folder is empty", stop.Message, StringComparison.Ordinal);
        Assert.All(Files, f => Assert.NotNull(_server.Current(f)));

        await a.SyncAsync(new SyncOptions { AllowMassDelete = true });
        Assert.All(Files, f => Assert.Null(_server.Current(f)));
    }

    [Fact]
    public async Task A_daemon_whose_folder_is_replaced_by_an_empty_one_says_so_and_deletes_nothing()
    {
        using var a = await SyncedClientAsync();
        var log = new ConcurrentQueue<string>();
        var ctx = new SyncContext
        {
            Folder = a.Folder, State = a.State, Metadata = _server, Transfer = _server, Chunker = a.Context.Chunker, Device = "a",
            Progress = new SyncProgress { Log = log.Enqueue },
        };
        var passes = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var daemon = new SyncDaemon(ctx, _ => Interlocked.Increment(ref passes)) { FolderCheckInterval = TimeSpan.FromMilliseconds(50) };
        var run = daemon.RunAsync(stop.Token);
        try
        {
            await WaitUntilAsync(() => Volatile.Read(ref passes) >= 1, run, "the first pass");
            Directory.Move(a.Folder, a.Folder + ".away");
            Directory.CreateDirectory(a.Folder);
            await WaitUntilAsync(() => log.Any(l => l.Contains("not the folder that was synced", StringComparison.Ordinal)), run, "the refusal");
            File.WriteAllText(Path.Combine(a.State.StateDirectory, SyncDaemon.NowRequestFile), "now"); // and once more
            await WaitUntilAsync(() => log.Count(l => l.Contains("not the folder that was synced", StringComparison.Ordinal)) >= 2, run, "a second refusal");
            Assert.All(Files, f => Assert.NotNull(_server.Current(f)));
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, Task daemon, string what)
    {
        var waited = Stopwatch.StartNew();
        while (!condition())
        {
            if (daemon.IsCompleted)
            {
                await daemon;
                Assert.Fail($"the daemon stopped before {what}");
            }

            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }
}
