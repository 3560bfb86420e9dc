using System.Reflection;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A case-clash loser found as synced where statx cannot be used (not Linux, an old C library, a container filter): the
/// stat then comes from <see cref="FileInfo"/>, as the scan's does. The flag is process-wide: this runs in the collection
/// with nothing else in parallel.
/// </summary>
[Collection(WithoutStatxCollection.Name)]
public sealed class CaseClashWithoutStatxTests : IDisposable
{
    private static readonly FieldInfo Unavailable = typeof(FileChangeTime).GetField("_unavailable", BindingFlags.NonPublic | BindingFlags.Static)!;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Without_statx_a_synced_file_renamed_on_the_server_to_a_name_new_here_follows_the_rename()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        await WithoutStatxAsync(async () =>
        {
            // Without statx for B's whole life: its rows record "read without a ctime", and the size, mtime and executable bit decide.
            await CaseConflictCascadeTests.RenameToANameNewOnBAsync(a, b);
            Assert.Equal(FileChangeTime.ReadWithout, b.State.GetFile("d/X.txt")!.ChangeTimeNs);

            var pass = await b.SyncAsync();
            await CaseConflictCascadeTests.AssertRenameKeptItsNameAsync(_server, pass);
            Assert.False(File.Exists(b.PathOf("d/X.txt")), "B keeps 'd/X.txt', which A renamed");
        });
    }

    [Fact]
    public async Task A_loser_synced_with_its_ctime_and_edited_in_place_is_not_followed_into_a_remote_rename_when_statx_fails_for_it()
    {
        // B syncs 'X.txt' while statx works (its row has a ctime) and edits it in place with its size and mtime put back;
        // then statx fails for it (a passing error falls back to FileInfo, which has no ctime). A renames 'X.txt' to
        // 'x.txt' as B writes a new 'x.txt': B's 'X.txt' loses the clash, and must not follow the rename (deleted here).
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("d/X.txt", "A's X");
        await a.SyncAsync();
        await b.SyncAsync();
        Assert.NotNull(b.State.GetFile("d/X.txt")!.ChangeTimeNs);
        ChangeTimeTests.RewriteInPlaceKeepingMtime(b, "d/X.txt", "B's X");
        b.Write("d/x.txt", "B's own x");
        File.Move(a.PathOf("d/X.txt"), a.PathOf("d/x.txt"));
        File.AppendAllText(a.PathOf("d/x.txt"), ", renamed by A");
        Assert.Equal(0, (await a.SyncAsync()).Errors);

        var notes = new List<string>();
        await WithoutStatxAsync(async () =>
        {
            for (var i = 0; i < 2; i++)
            {
                notes.AddRange((await b.SyncAsync()).Notes);
                await a.SyncAsync();
            }
        });

        var edits = TestClient.FilesIn(b.PathOf("d")).Where(f => File.ReadAllText(f) == "B's X").ToList();
        Assert.True(edits.Count == 1, $"B's edit is in {edits.Count} file(s) of its folder: [{string.Join(", ", TestClient.FilesIn(b.PathOf("d")).Select(f => Path.GetFileName(f) + "=" + File.ReadAllText(f)))}]; B's notes: [{string.Join(" | ", notes)}]");
        Assert.Contains(TestClient.FilesIn(a.PathOf("d")), f => File.ReadAllText(f) == "B's X");
    }

    [Fact]
    public async Task A_loser_synced_with_its_ctime_and_unchanged_follows_a_remote_rename_when_statx_fails_for_it()
    {
        // B syncs 'X.txt' while statx works (its row has a ctime), then statx fails for it: the file, unchanged, must still
        // follow A's rename (read, its bytes are the synced ones), not be renamed 'X (Case Conflict).txt' and uploaded.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        await CaseConflictCascadeTests.RenameToANameNewOnBAsync(a, b);
        Assert.NotNull(b.State.GetFile("d/X.txt")!.ChangeTimeNs);
        Sync.SyncSummary pass = null!;
        await WithoutStatxAsync(async () =>
        {
            await b.SyncAsync();
            pass = await b.SyncAsync();
        });
        await CaseConflictCascadeTests.AssertRenameKeptItsNameAsync(_server, pass);
        Assert.False(File.Exists(b.PathOf("d/X.txt")), "B keeps 'd/X.txt', which A renamed");
    }

    /// <summary>Runs <paramref name="act"/> with statx turned off for the whole process, then puts it back.</summary>
    private static async Task WithoutStatxAsync(Func<Task> act)
    {
        var was = (bool)Unavailable.GetValue(null)!;
        Unavailable.SetValue(null, true);
        try
        {
            await act();
        }
        finally
        {
            Unavailable.SetValue(null, was);
        }
    }
}
