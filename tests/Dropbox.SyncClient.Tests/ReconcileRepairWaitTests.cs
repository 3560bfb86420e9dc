using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A reconcile pass that finds a file's bytes changed under the size and mtime the db holds ("racily clean") repairs
/// the record. When the file is still young, the plan waits for it; the repair must outlive that pass, or the next pass
/// takes the file as clean: its new bytes never go up, and a remote edit is downloaded over them.
/// </summary>
public sealed class ReconcileRepairWaitTests : IDisposable
{
    private static readonly TimeSpan StableAge = TimeSpan.FromHours(1);

    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_repaired_file_that_waits_is_uploaded_by_a_pass_after_it_settles()
    {
        var clock = new ManualClock();
        using var a = new TestClient(_dir, "a", _server, time: clock);
        await SyncThenRewriteUnderTheSameStampAsync(a, clock);

        var reconcile = await PassAsync(a, reconcile: true);
        clock.Advance(StableAge * 2);
        var settled = await PassAsync(a, reconcile: false);

        Assert.Equal(0, reconcile.Errors + reconcile.FilesUploaded);
        Assert.True(reconcile.Repairs >= 1 && reconcile.Pending >= 1, "the reconcile pass repairs the record and waits for the young file");
        Assert.Equal(0, settled.Errors);
        Assert.Equal(1, settled.FilesUploaded);
        using var b = new TestClient(_dir, "b", _server);
        await b.SyncAsync();
        Assert.Equal("bbbb", b.Read("doc.txt"));
    }

    [Fact]
    public async Task A_remote_edit_while_a_repaired_file_waits_makes_a_conflict_copy_not_an_overwrite()
    {
        var clock = new ManualClock();
        using var a = new TestClient(_dir, "a", _server, time: clock);
        using var b = new TestClient(_dir, "b", _server);
        await SyncThenRewriteUnderTheSameStampAsync(a, clock);
        await b.SyncAsync();

        await PassAsync(a, reconcile: true);
        b.Write("doc.txt", "edited on b");
        await b.SyncAsync();
        clock.Advance(StableAge * 2);
        var settled = await PassAsync(a, reconcile: false);

        Assert.Equal(0, settled.Errors);
        var kept = TestClient.FilesIn(a.Folder).Select(File.ReadAllText).ToList();
        Assert.Contains("bbbb", kept); // the bytes never uploaded are not downloaded over
        Assert.Contains("edited on b", kept);
    }

    /// <summary>
    /// Syncs doc.txt ("aaaa", stamped a minute before <paramref name="clock"/>'s now, read without a stable age: its
    /// record holds the plain mtime), then writes "bbbb" over it under the same size and mtime, its record's ctime unknown
    /// (a row kept before the ctime was): only a read can tell (a known ctime would, see ChangeTimeTests).
    /// </summary>
    private static async Task SyncThenRewriteUnderTheSameStampAsync(TestClient a, ManualClock clock)
    {
        var stamp = clock.GetUtcNow().UtcDateTime.AddMinutes(-1);
        a.Write("doc.txt", "aaaa");
        File.SetLastWriteTimeUtc(a.PathOf("doc.txt"), stamp);
        var first = await a.SyncAsync();
        Assert.Equal(1, first.FilesUploaded);

        a.Write("doc.txt", "bbbb");
        File.SetLastWriteTimeUtc(a.PathOf("doc.txt"), stamp);
        a.State.TouchFile("doc.txt", a.State.GetFile("doc.txt")!.MtimeTicks, null);
    }

    /// <summary>A pass over a's folder, db and clock with the one-hour stable age (the file is young until the clock moves on).</summary>
    private static Task<SyncSummary> PassAsync(TestClient a, bool reconcile) =>
        new SyncEngine(a.Context.With(new SyncOptions { Reconcile = reconcile, StableAge = StableAge })).RunPassAsync(CancellationToken.None);
}
