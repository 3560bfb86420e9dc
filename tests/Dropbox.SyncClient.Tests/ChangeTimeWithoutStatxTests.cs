using System.Reflection;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A file synced while statx worked (its row has a ctime) that the scan then sees without one (statx failed for it, for a
/// passing reason): size and mtime alone do not vouch for it. The flag is process-wide: this runs in the collection with
/// nothing else in parallel.
/// </summary>
[Collection(WithoutStatxCollection.Name)]
public sealed class ChangeTimeWithoutStatxTests : IDisposable
{
    private static readonly FieldInfo Unavailable = typeof(FileChangeTime).GetField("_unavailable", BindingFlags.NonPublic | BindingFlags.Static)!;

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task An_edit_with_its_size_and_mtime_put_back_is_kept_against_a_remote_delete_when_statx_fails_for_it()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("f.txt", "A's text");
        a.Write("keep.txt", "kept"); // the delete is not all the folder holds
        await a.SyncAsync();
        await b.SyncAsync();
        Assert.NotNull(b.State.GetFile("f.txt")!.ChangeTimeNs);
        ChangeTimeTests.RewriteInPlaceKeepingMtime(b, "f.txt", "B's text");
        File.Delete(a.PathOf("f.txt"));
        Assert.Equal(0, (await a.SyncAsync()).Errors);
        Assert.Null(_server.Current("f.txt"));

        var pass = await WithoutStatxAsync(b);

        Assert.True(File.Exists(b.PathOf("f.txt")), $"B's edit followed A's delete: [{string.Join(" | ", pass.Notes)}]");
        Assert.Equal("B's text", b.Read("f.txt"));
        Assert.NotNull(_server.Current("f.txt")); // kept: uploaded again
    }

    [Fact]
    public async Task An_edit_with_its_size_and_mtime_put_back_is_sent_when_statx_fails_for_it()
    {
        // No remote change: the scan's fast path (a file exactly as synced needs no plan) must not take it as clean.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("f.txt", "A's text");
        await a.SyncAsync();
        await b.SyncAsync();
        Assert.NotNull(b.State.GetFile("f.txt")!.ChangeTimeNs);
        ChangeTimeTests.RewriteInPlaceKeepingMtime(b, "f.txt", "B's text");

        var pass = await WithoutStatxAsync(b);

        Assert.True(pass.FilesUploaded == 1, $"B's edit was not sent: [{string.Join(" | ", pass.Notes)}]");
        await a.SyncAsync();
        Assert.Equal("B's text", a.Read("f.txt"));
    }

    [Fact]
    public async Task Files_as_synced_seen_without_their_recorded_ctime_cost_one_read_each_and_the_passes_after_read_nothing()
    {
        // The cost of the rule where statx stops working for good (a container filter put in place): each file whose row
        // has a ctime is read once, recorded as read without one, and then compared by size and mtime as on any system without statx.
        using var a = new TestClient(_dir, "a", _server);
        ChangeTimeTests.WriteSettled(a, "one.txt", "one");
        ChangeTimeTests.WriteSettled(a, "two.txt", "two");
        await a.SyncAsync();
        Assert.NotNull(a.State.GetFile("one.txt")!.ChangeTimeNs);
        var reads = a.Engine.FilesHashed;

        await WithoutStatxAsync(async () =>
        {
            var first = await a.SyncAsync();
            Assert.Equal(reads + 2, a.Engine.FilesHashed);
            Assert.Equal(0, first.FilesUploaded + first.FilesDownloaded + first.Conflicts + first.Errors);
            Assert.Equal(FileChangeTime.ReadWithout, a.State.GetFile("one.txt")!.ChangeTimeNs);

            var after = await a.SyncAsync();
            Assert.Equal(reads + 2, a.Engine.FilesHashed);
            Assert.Equal(0, after.FilesUploaded + after.FilesDownloaded + after.Errors);
        });
    }

    [Fact]
    public async Task An_edit_with_its_size_and_mtime_put_back_is_not_moved_as_the_synced_file_by_a_remote_rename_when_statx_fails_for_it()
    {
        // Moved as the synced file, the edit would be recorded as the remote version under the new name: hidden from
        // every later scan (its size and mtime are the recorded ones), never sent, and overwritten by the next remote edit.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("f.txt", "A's text");
        await a.SyncAsync();
        await b.SyncAsync();
        Assert.NotNull(b.State.GetFile("f.txt")!.ChangeTimeNs);
        ChangeTimeTests.RewriteInPlaceKeepingMtime(b, "f.txt", "B's text");
        File.Move(a.PathOf("f.txt"), a.PathOf("g.txt"));
        Assert.Equal(0, (await a.SyncAsync()).Errors);

        var pass = await WithoutStatxAsync(b);

        await b.SyncAsync();
        await a.SyncAsync();
        string Files(TestClient c) => string.Join(", ", TestClient.FilesIn(c.Folder).Select(f => Path.GetFileName(f) + "=" + File.ReadAllText(f)));
        Assert.True(TestClient.FilesIn(a.Folder).Any(f => File.ReadAllText(f) == "B's text"), $"B's edit never reached A: A [{Files(a)}], B [{Files(b)}]; B's notes: [{string.Join(" | ", pass.Notes)}]");
        Assert.Equal("A's text", a.Read("g.txt"));
    }

    private static async Task<SyncSummary> WithoutStatxAsync(TestClient c)
    {
        SyncSummary? pass = null;
        await WithoutStatxAsync(async () => pass = await c.SyncAsync());
        return pass!;
    }

    /// <summary>Runs <paramref name="body"/> with statx unavailable to the client, and puts it back after.</summary>
    private static async Task WithoutStatxAsync(Func<Task> body)
    {
        var was = (bool)Unavailable.GetValue(null)!;
        Unavailable.SetValue(null, true);
        try
        {
            await body();
        }
        finally
        {
            Unavailable.SetValue(null, was);
        }
    }

    [Fact]
    public async Task An_edit_with_its_size_and_mtime_put_back_after_one_pass_without_statx_is_sent()
    {
        // One pass without statx reads the file (its row has a ctime, none is seen). Recorded with no ctime, the row would
        // let the next scan (statx working again) trust size and mtime and learn the ctime it sees: an edit made in
        // between with its size and mtime put back would never be sent, and the next remote edit would overwrite it.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("f.txt", "A's text");
        await a.SyncAsync();
        await b.SyncAsync();
        Assert.NotNull(b.State.GetFile("f.txt")!.ChangeTimeNs);

        await WithoutStatxAsync(b);
        var afterBlip = b.State.GetFile("f.txt")!.ChangeTimeNs;
        ChangeTimeTests.RewriteInPlaceKeepingMtime(b, "f.txt", "B's text");
        var pass = await b.SyncAsync();
        var again = await b.SyncAsync();

        a.Write("f.txt", "A's edit two, longer");
        await a.SyncAsync();
        await b.SyncAsync();
        var everywhere = TestClient.FilesIn(b.Folder).Concat(TestClient.FilesIn(a.Folder)).Select(File.ReadAllText).ToList();
        Assert.True(pass.FilesUploaded + again.FilesUploaded == 1 && everywhere.Contains("B's text"),
            $"B's edit not sent (uploads {pass.FilesUploaded}+{again.FilesUploaded}; row ctime after the pass without statx: {afterBlip?.ToString() ?? "none"}); files now: [{string.Join(", ", everywhere)}]");
    }

    [Fact]
    public async Task An_edit_made_while_statx_fails_for_a_while_is_sent_once_it_works_again()
    {
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("f.txt", "A's text");
        await a.SyncAsync();
        await b.SyncAsync();
        Assert.NotNull(b.State.GetFile("f.txt")!.ChangeTimeNs);

        await WithoutStatxAsync(b); // the file is read once (its recorded ctime is not seen)
        var reads = b.Engine.FilesHashed;
        ChangeTimeTests.RewriteInPlaceKeepingMtime(b, "f.txt", "B's text");
        var off = await WithoutStatxAsync(b); // still failing: size and mtime decide (no read every pass)
        Assert.Equal(reads, b.Engine.FilesHashed);
        var on = await b.SyncAsync(); // statx works again: the file is read once, its bytes decide
        var on2 = await b.SyncAsync();
        Assert.True(off.FilesUploaded + on.FilesUploaded + on2.FilesUploaded == 1,
            $"B's edit never sent: the server holds {_server.Current("f.txt")?.Size} bytes; B's row ctime {b.State.GetFile("f.txt")!.ChangeTimeNs?.ToString() ?? "none"}");
        await a.SyncAsync();
        Assert.Equal("B's text", a.Read("f.txt"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_edit_behind_the_marker_is_kept_when_a_remote_rename_moves_the_file_while_statx_comes_back_mid_pass(bool statxBackMidPass)
    {
        // A second review's test: a row with the marker, an edit with size and mtime put back, a remote rename planned
        // while statx still fails (no read: the marker counts as no ctime), statx back before the local move runs.
        using var a = new TestClient(_dir, "a", _server);
        using var b = new TestClient(_dir, "b", _server);
        a.Write("f.txt", "A's text");
        a.Write("keep.txt", "kept");
        await a.SyncAsync();
        await b.SyncAsync();
        await WithoutStatxAsync(b);
        Assert.Equal(FileChangeTime.ReadWithout, b.State.GetFile("f.txt")!.ChangeTimeNs);
        ChangeTimeTests.RewriteInPlaceKeepingMtime(b, "f.txt", "B's text");
        File.Move(a.PathOf("f.txt"), a.PathOf("g.txt"));
        Assert.Equal(0, (await a.SyncAsync()).Errors);

        var was = (bool)Unavailable.GetValue(null)!;
        Unavailable.SetValue(null, true);
        b.State.Writer.Step = s =>
        {
            if (statxBackMidPass && s.StartsWith("before local move", StringComparison.Ordinal))
            {
                Unavailable.SetValue(null, false);
            }
        };
        try
        {
            await b.SyncAsync();
        }
        finally
        {
            b.State.Writer.Step = null;
            Unavailable.SetValue(null, was);
        }

        var rowAfterMove = b.State.GetFile("g.txt")?.ChangeTimeNs;
        await b.SyncAsync();
        await b.SyncAsync();
        a.Write("g.txt", "A's edit two, longer");
        await a.SyncAsync();
        await b.SyncAsync();
        await a.SyncAsync();
        var everywhere = TestClient.FilesIn(b.Folder).Concat(TestClient.FilesIn(a.Folder)).Select(File.ReadAllText).ToList();
        Assert.True(everywhere.Contains("B's text"), $"B's edit lost: row g.txt ctime after the move {rowAfterMove?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "null"}; files: [{string.Join(", ", everywhere)}]");
    }
}
