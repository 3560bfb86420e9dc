using System.Diagnostics;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>The stability rule: a file still being written is never uploaded half-written.</summary>
public sealed class StableFileTests : IDisposable
{
    private static readonly SyncOptions OneShot = new() { StableAge = TimeSpan.FromSeconds(1), WaitForStable = true };
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_one_shot_pass_waits_for_a_fresh_file_and_uploads_it_once_it_stayed_the_same()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("fresh.txt", "just written");

        var result = await a.SyncAsync(OneShot);

        Assert.Equal(1, result.FilesUploaded);
        Assert.Equal(0, result.Pending);
        Assert.NotNull(_server.Current("fresh.txt"));
    }

    /// <summary>
    /// The daemon's re-check (<see cref="SyncSummary.RecheckAfter"/>) is when the soonest of the files the plan waits for
    /// could be settled, whichever kind of wait that is: a changed synced file, a new file, a case-clash rename.
    /// </summary>
    [Theory]
    [InlineData("synced.txt")]
    [InlineData("new.txt")]
    [InlineData("Readme.txt")]
    public async Task A_pass_that_waits_asks_for_its_re_check_when_the_soonest_waiting_file_could_settle(string soonest)
    {
        var clock = new ManualClock();
        var now = clock.GetUtcNow().UtcDateTime;
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromHours(1) }, time: clock);
        a.Write("synced.txt", "v1");
        a.Write("README.txt", "the clash's winner");
        File.SetLastWriteTimeUtc(a.PathOf("synced.txt"), now.AddHours(-2));
        File.SetLastWriteTimeUtc(a.PathOf("README.txt"), now.AddHours(-2));
        Assert.Equal(2, (await a.SyncAsync()).FilesUploaded);
        a.Write("synced.txt", "v2, being edited");
        a.Write("new.txt", "being written");
        a.Write("Readme.txt", "the clash's loser, being written");
        foreach (var name in new[] { "synced.txt", "new.txt", "Readme.txt" })
        {
            // The soonest settles in 10 minutes, the others in 50.
            File.SetLastWriteTimeUtc(a.PathOf(name), now.AddMinutes(name == soonest ? -50 : -10));
        }

        var pass = await a.SyncAsync();

        Assert.Equal(0, pass.Errors + pass.FilesUploaded);
        Assert.Equal(3, pass.Pending);
        Assert.Equal(TimeSpan.FromMinutes(10), pass.RecheckAfter);
    }

    [Fact]
    public async Task A_file_still_growing_during_a_one_shot_pass_is_reported_pending_and_uploaded_whole_later()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("steady.txt", "old enough");
        File.SetLastWriteTimeUtc(a.PathOf("steady.txt"), DateTime.UtcNow.AddMinutes(-5));
        a.Write("growing.log", "line 0\n");
        using var stop = new CancellationTokenSource();
        var writer = AppendUntilStoppedAsync(a.PathOf("growing.log"), stop.Token);

        SyncSummary during;
        try
        {
            during = await a.SyncAsync(OneShot);
        }
        finally
        {
            await stop.CancelAsync();
            await writer;
        }

        Assert.Equal(1, during.Pending);
        Assert.Equal(1, during.FilesUploaded);
        Assert.Null(_server.Current("growing.log"));
        Assert.Contains(during.Notes, n => n.Contains("growing.log", StringComparison.Ordinal) && n.Contains(SyncPlanner.ChangingReason, StringComparison.Ordinal));

        var after = await a.SyncAsync(OneShot);

        Assert.Equal(0, after.Pending);
        Assert.Equal(1, after.FilesUploaded);
        Assert.Equal((ulong)new FileInfo(a.PathOf("growing.log")).Length, _server.Current("growing.log")!.Size);
    }

    [Fact]
    public async Task A_file_written_to_between_reading_and_committing_is_not_committed_and_goes_up_whole_next_pass()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("original.bin", TestClient.RandomBytes(50_000, 7));
        await a.SyncAsync();
        a.Write("copy.bin", TestClient.RandomBytes(50_000, 7)); // every chunk already on the server: nothing is re-read
        a.Write("new.bin", TestClient.RandomBytes(50_000, 8));
        var appended = new HashSet<string>();
        _server.BeforePlanUpload = path =>
        {
            if (appended.Add(path))
            {
                File.AppendAllText(a.PathOf(path), "appended while the upload was under way");
            }
        };

        var during = await a.SyncAsync();
        Assert.Equal(0, during.Errors);
        Assert.Equal(0, during.FilesUploaded);
        Assert.Equal(2, during.Pending);
        Assert.Null(_server.Current("copy.bin"));
        Assert.Null(_server.Current("new.bin"));

        _server.BeforePlanUpload = null;
        var after = await a.SyncAsync();

        Assert.Equal(2, after.FilesUploaded);
        Assert.Equal((ulong)new FileInfo(a.PathOf("copy.bin")).Length, _server.Current("copy.bin")!.Size);
        Assert.Equal((ulong)new FileInfo(a.PathOf("new.bin")).Length, _server.Current("new.bin")!.Size);
    }

    [Fact]
    public async Task A_file_written_to_between_the_scan_and_its_read_is_left_pending()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("first.txt", "read first");
        a.Write("second.txt", "appended to while the first is read");
        var appended = 0;
        var context = a.Context;
        var engine = new SyncEngine(new SyncContext
        {
            Folder = context.Folder, State = context.State, Metadata = context.Metadata, Transfer = context.Transfer, Device = context.Device,
            Chunker = new TouchingChunkSource(context.Chunker, name =>
            {
                // Whichever file is read first, the other one changes after the scan saw it.
                var other = name.EndsWith("first.txt", StringComparison.Ordinal) ? "second.txt" : "first.txt";
                if (Interlocked.Exchange(ref appended, 1) == 0)
                {
                    File.AppendAllText(a.PathOf(other), " and more");
                }
            }),
        });

        var result = await engine.RunPassAsync(CancellationToken.None);

        Assert.Equal(1, result.Pending);
        Assert.Equal(1, result.FilesUploaded);
        var later = await a.SyncAsync();
        Assert.Equal(1, later.FilesUploaded);
        Assert.Equal((ulong)new FileInfo(a.PathOf("first.txt")).Length, _server.Current("first.txt")!.Size);
        Assert.Equal((ulong)new FileInfo(a.PathOf("second.txt")).Length, _server.Current("second.txt")!.Size);
    }

    [Fact]
    public async Task A_file_dated_far_in_the_future_is_not_mistaken_for_one_being_written()
    {
        using var a = new TestClient(_dir, "a", _server);
        a.Write("from-the-future.txt", "clock skew");
        File.SetLastWriteTimeUtc(a.PathOf("from-the-future.txt"), DateTime.UtcNow.AddDays(1));

        var result = await a.SyncAsync(new SyncOptions { StableAge = TimeSpan.FromHours(1) });

        Assert.Equal(1, result.FilesUploaded);
        Assert.Equal(0, result.Pending);
    }

    private static async Task AppendUntilStoppedAsync(string path, CancellationToken stop)
    {
        var clock = Stopwatch.StartNew();
        for (var i = 1; i < 2000 && clock.Elapsed < TimeSpan.FromSeconds(60) && !stop.IsCancellationRequested; i++)
        {
            await File.AppendAllTextAsync(path, $"line {i}\n", CancellationToken.None);
            try
            {
                await Task.Delay(50, stop); // pacing of the writer, not synchronization
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>The real chunker, with a hook run when it starts reading a file.</summary>
    private sealed class TouchingChunkSource(Dropbox.SyncClient.Local.IChunkSource inner, Action<string> onRead) : Dropbox.SyncClient.Local.IChunkSource
    {
        public IAsyncEnumerable<Dropbox.SyncClient.Local.SourceChunk> ReadAsync(Stream input, bool keepData, CancellationToken ct)
        {
            onRead((input as FileStream)?.Name ?? string.Empty);
            return inner.ReadAsync(input, keepData, ct);
        }
    }
}
