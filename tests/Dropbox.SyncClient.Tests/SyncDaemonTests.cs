using System.Collections.Concurrent;
using System.Diagnostics;
using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The daemon (real watcher, real folder and db) against a <see cref="FakeServer"/>: a file being written is taken
/// once it was quiet, never torn, and a file that keeps changing costs a bounded number of passes.
/// </summary>
public sealed class SyncDaemonTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly TempFolder _dir = new();
    private readonly FakeServer _server = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_file_written_in_pieces_with_pauses_shorter_than_the_quiet_period_is_never_committed_torn()
    {
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = SyncOptions.DefaultStableAge });
        var quiet = a.Context.Options.QuietPeriod;
        var summaries = new ConcurrentQueue<SyncSummary>();
        using var stop = new CancellationTokenSource(Bound);
        var daemon = new SyncDaemon(a.Context, summaries.Enqueue);
        var run = daemon.RunAsync(stop.Token);
        try
        {
            await WaitUntilAsync(() => !summaries.IsEmpty, run, "the first pass");

            // The writer keeps the file open and appends piece after piece, pausing well under the quiet period,
            // while passes are asked for all along (sync --now): each of them finds the file mid-write.
            var pieces = Enumerable.Range(0, 24).Select(i => TestClient.RandomBytes(1500 + (i * 37), 100 + i)).ToList();
            var states = new List<(byte[] Content, TimeSpan QuietAfter)>();
            var written = new List<byte>();
            var passesBefore = summaries.Count;
            var nowRequest = Path.Combine(a.State.StateDirectory, SyncDaemon.NowRequestFile);
            await using (var file = new FileStream(a.PathOf("report.bin"), FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0))
            {
                long endedAt = 0;
                foreach (var piece in pieces)
                {
                    if (states.Count > 0)
                    {
                        states[^1] = (states[^1].Content, Stopwatch.GetElapsedTime(endedAt));
                    }

                    file.Write(piece);
                    endedAt = Stopwatch.GetTimestamp();
                    written.AddRange(piece);
                    states.Add(([.. written], TimeSpan.MaxValue));
                    File.WriteAllText(nowRequest, "now");
                    await Task.Delay(TimeSpan.FromMilliseconds(40));
                }
            }

            var finalContent = states[^1].Content;
            await WaitUntilAsync(() => _server.Current("report.bin")?.Size == (ulong)finalContent.Length, run, "the whole file on the server");

            var history = _server.History("report.bin");
            var final = await HashAsync(a, finalContent);
            Assert.Equal(Convert.ToHexString(final), Convert.ToHexString(history[^1].ContentHash.ToByteArray()));
            foreach (var version in history)
            {
                var index = await IndexOfStateAsync(a, states, version.ContentHash.ToByteArray());
                Assert.True(index >= 0, $"version {version.Version} ({version.Size} bytes) is not any state the file was ever in: torn");
                Assert.True(states[index].QuietAfter >= quiet,
                    $"version {version.Version} is the file after piece {index + 1} of {states.Count}, which stood still only {states[index].QuietAfter.TotalMilliseconds:F0} ms (quiet period {quiet.TotalMilliseconds:F0} ms)");
            }

            // The passes asked for mid-write did find the file and left it (else nothing above was tested).
            Assert.Contains(summaries.Skip(passesBefore), s => s.Pending > 0 && s.Notes.Any(n => n.Contains("report.bin", StringComparison.Ordinal)));
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task A_pause_request_left_by_a_daemon_that_died_does_not_pause_the_next_one()
    {
        using var a = new TestClient(_dir, "a", _server);
        // sync --pause, then the daemon died before it picked the request up.
        File.WriteAllText(Path.Combine(a.State.StateDirectory, SyncDaemon.PauseRequestFile), "stale");
        var passes = 0;
        using var stop = new CancellationTokenSource(Bound);
        var run = new SyncDaemon(a.Context, _ => Interlocked.Increment(ref passes)).RunAsync(stop.Token);
        try
        {
            await WaitUntilAsync(() => Volatile.Read(ref passes) >= 1, run, "the first pass");
            await Task.Delay(TimeSpan.FromMilliseconds(600)); // past the request watcher's 250 ms ticks
            a.Write("after-start.txt", "synced, not paused");

            await WaitUntilAsync(() => _server.Current("after-start.txt") is not null, run, "the file on the server (a paused daemon never sends it)", TimeSpan.FromSeconds(20));
            Assert.False(File.Exists(Path.Combine(a.State.StateDirectory, SyncDaemon.PausedFile)));
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }

        Assert.False(File.Exists(Path.Combine(a.State.StateDirectory, SyncDaemon.PauseRequestFile)));
    }

    [Theory]
    [InlineData("new.txt")]
    [InlineData("new-folder/inner/new.txt")]
    public async Task A_new_file_the_watcher_saw_is_synced_after_the_quiet_period_without_waiting_for_the_stable_age(string path)
    {
        // A stable age far beyond the wait below: only the watcher's evidence can let the daemon take the file.
        using var a = new TestClient(_dir, "a", _server, new SyncOptions { StableAge = TimeSpan.FromMinutes(5) });
        var passes = 0;
        using var stop = new CancellationTokenSource(Bound);
        var daemon = new SyncDaemon(a.Context, _ => Interlocked.Increment(ref passes));
        var run = daemon.RunAsync(stop.Token);
        try
        {
            await WaitUntilAsync(() => Volatile.Read(ref passes) >= 1, run, "the first pass");

            a.Write(path, "written just now"); // a new folder and the file in it at once: no event of the file's own

            await WaitUntilAsync(() => _server.Current(path) is not null, run, "the file on the server", TimeSpan.FromSeconds(30));
            Assert.Equal((ulong)"written just now".Length, _server.Current(path)!.Size);
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task A_file_the_server_refuses_every_pass_does_not_hold_back_the_next_change_for_its_back_off()
    {
        // One file fails each pass for good (a name or file the server refuses; for a user, a file that cannot be read):
        // the pass itself runs to its end, and a change made during the back-off that follows is synced without
        // waiting the back-off out (5 minutes here, so that waiting it out cannot pass).
        using var a = new TestClient(_dir, "a", _server, QuickOptions);
        using var stop = new CancellationTokenSource(Bound);
        var (run, _) = await StartWithARefusedFileAsync(a, stop.Token);
        try
        {
            a.Write("later.txt", "written during the back-off");

            await WaitUntilAsync(() => _server.Current("later.txt") is not null, run, "the later file on the server", TimeSpan.FromSeconds(30));
            Assert.Null(_server.Current("refused.txt"));
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    // A refused file fails every pass, so no pass advances the stored cursor; the change after it (the later file this
    // device itself committed, or another device's file downloaded here) must not end each pause again: under a
    // 5-minute back-off, at most a pass or two follow (found by review: 8-9 passes in 10 s, back to back).
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Passes_with_a_refused_file_do_not_run_back_to_back_on_news_already_synced(bool otherDevice)
    {
        using var a = new TestClient(_dir, "a", _server, QuickOptions);
        using var b = new TestClient(_dir, "b", _server, QuickOptions);
        using var stop = new CancellationTokenSource(Bound);
        var (run, reasons) = await StartWithARefusedFileAsync(a, stop.Token);
        try
        {
            if (otherDevice)
            {
                b.Write("from-b.txt", "another device's file");
                File.SetLastWriteTimeUtc(b.PathOf("from-b.txt"), DateTime.UtcNow.AddHours(-1));
                await b.SyncAsync();
                await WaitUntilAsync(() => File.Exists(a.PathOf("from-b.txt")), run, "b's file here (a remote change ends the back-off)", TimeSpan.FromSeconds(30));
            }
            else
            {
                a.Write("later.txt", "written during the back-off");
                await WaitUntilAsync(() => _server.Current("later.txt") is not null, run, "the later file on the server", TimeSpan.FromSeconds(30));
            }

            // The passes the change itself causes (its own events here, its news) settle; then, in a window of fixed
            // length, the passes are counted (not timed): none is due before the back-off ends. A few late ones of the
            // change's own are allowed on a loaded machine; the back-to-back passes ran one a second (10 in the window).
            await Task.Delay(TimeSpan.FromSeconds(5));
            var before = reasons.Count;
            await Task.Delay(TimeSpan.FromSeconds(10));
            var after = reasons.Count;
            Assert.True(after - before <= 3, $"{after - before} passes in 10 s under a 5-minute back-off; reasons: {string.Join(" | ", reasons)}");
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_file_written_while_the_server_was_away_goes_up_soon_after_its_return(bool staleCursorAfterReturn)
    {
        // While away: the long poll in flight ends "cancelled" (an HTTP/2 reset with CANCEL, as a restarting server or a
        // proxy sends), every later call fails as unreachable. After its return, a metadata node that had crashed
        // refuses the cursors it issued before (a new change-log epoch): the probe's first answer is that refusal. The
        // daemon's failed passes back off (2, 4, 8 s...); only the probe notices the return at once, so it must survive
        // the cancelled poll and take a refusal for an answer.
        var options = new SyncOptions { StableAge = TimeSpan.FromMilliseconds(300), QuietPeriod = TimeSpan.FromMilliseconds(200) };
        using var a = new TestClient(_dir, "a", _server, options);
        var passes = 0;
        var headers = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource(Bound);
        var daemon = new SyncDaemon(a.Context, _ => Interlocked.Increment(ref passes))
        {
            Debounce = TimeSpan.FromMilliseconds(50), MinPollSeconds = 1, UnreachableProbeInterval = TimeSpan.FromMilliseconds(500), PassStarting = headers.Enqueue,
        };
        var run = daemon.RunAsync(stop.Token);
        try
        {
            await WaitUntilAsync(() => Volatile.Read(ref passes) >= 1, run, "the first pass");
            var stale = a.State.GetSetting(StateKeys.Cursor);
            var cancelledPolls = 0;
            _server.ListChangesFault = request =>
            {
                if (request.WaitSeconds > 0)
                {
                    Interlocked.Increment(ref cancelledPolls);
                    return new OperationCanceledException("Listing changes was cancelled.");
                }

                return new DropboxException(ErrorKind.Unavailable, "Listing changes: the server is not reachable.");
            };
            a.Write("written-while-away.txt", "kept for the server");
            await WaitUntilAsync(() => Volatile.Read(ref cancelledPolls) >= 1, run, "the long poll's end");

            // Away long enough for the passes' back-off to pass 4 s: the next retry is then about 7 s after the return.
            await Task.Delay(TimeSpan.FromSeconds(7));
            Assert.Null(_server.Current("written-while-away.txt"));
            _server.ListChangesFault = staleCursorAfterReturn
                ? request => request.Limit == 1 && request.Cursor == stale ? StaleCursor() : null // the probe's, not a pass's
                : null;
            var back = Stopwatch.StartNew();
            await WaitUntilAsync(() => _server.Current("written-while-away.txt") is not null, run, "the file on the server");
            Assert.True(back.Elapsed < TimeSpan.FromSeconds(4), $"on the server {back.Elapsed.TotalSeconds:F1} s after the return\n{string.Join("\n", headers)}");
            Assert.Contains(headers, h => h.Contains("the server answers again", StringComparison.Ordinal));
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task An_idle_daemon_whose_cursor_the_server_refuses_runs_a_pass_at_once_instead_of_at_the_next_rescan()
    {
        using var a = new TestClient(_dir, "a", _server);
        var headers = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource(Bound);
        var passesDone = 0;
        var daemon = new SyncDaemon(a.Context, _ => Interlocked.Increment(ref passesDone)) { MinPollSeconds = 1, UnreachableProbeInterval = TimeSpan.FromMilliseconds(500), PassStarting = headers.Enqueue };
        var run = daemon.RunAsync(stop.Token);
        try
        {
            // The cursor the first pass stores, not the one before it: a header is printed when a pass starts.
            await WaitUntilAsync(() => Volatile.Read(ref passesDone) >= 1, run, "the first pass");
            var stale = a.State.GetSetting(StateKeys.Cursor);

            // The metadata node restarted after a crash while nothing changed here: the feed refuses the old cursor. Only
            // a pass takes a new one (it lists everything); without one the daemon follows nothing until its rescan.
            var refused = 0;
            _server.ListChangesFault = request => request.Limit == 1 && request.Cursor == stale && Interlocked.Increment(ref refused) > 0 ? StaleCursor() : null;
            await WaitUntilAsync(() => headers.Any(h => h.Contains("the server reset the change feed", StringComparison.Ordinal)), run, "a pass for the reset feed", TimeSpan.FromSeconds(10));
            var asked = Volatile.Read(ref refused);

            // Asked once per refused cursor: a refusal that lasts does not start a pass per probe.
            await WaitUntilAsync(() => Volatile.Read(ref refused) >= asked + 3, run, "more refused probes");
            Assert.Single(headers, h => h.Contains("the server reset the change feed", StringComparison.Ordinal));
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task A_sync_folder_that_vanishes_and_comes_back_starts_a_pass_named_for_its_return_and_no_other()
    {
        var log = new ConcurrentQueue<string>();
        using var a = new TestClient(_dir, "a", _server, log: log.Enqueue);
        var headers = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource(Bound);
        var passesDone = 0;
        var daemon = new SyncDaemon(a.Context, _ => Interlocked.Increment(ref passesDone)) { MinPollSeconds = 1, FolderCheckInterval = TimeSpan.FromMilliseconds(20), PassStarting = headers.Enqueue };
        var run = daemon.RunAsync(stop.Token);
        try
        {
            await WaitUntilAsync(() => Volatile.Read(ref passesDone) >= 1, run, "the first pass");
            var away = a.Folder + ".away";
            Directory.Move(a.Folder, away);
            await WaitUntilAsync(() => log.Any(l => l.Contains("is missing", StringComparison.Ordinal)), run, "the missing folder noted");
            var seen = daemon.FolderChecks;
            await WaitUntilAsync(() => daemon.FolderChecks >= seen + 10, run, "ten folder checks while it is away");
            var before = headers.Count;

            // Act
            Directory.Move(away, a.Folder);
            await WaitUntilAsync(() => headers.Skip(before).Any(h => h.Contains("came back", StringComparison.Ordinal)), run, "a pass for the return");
            var back = daemon.FolderChecks;
            await WaitUntilAsync(() => daemon.FolderChecks >= back + 10, run, "more folder checks after the return");

            // Assert: the return's pass says so; no pass is named for the absence once the folder is back (one was
            // queued per check while it was away, and each ran as "the sync folder vanished").
            Assert.DoesNotContain(headers.Skip(before), h => h.Contains("vanished", StringComparison.Ordinal));
            Assert.Single(headers.Skip(before), h => h.Contains("came back", StringComparison.Ordinal));
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    private static DropboxException StaleCursor() =>
        new(ErrorKind.Conflict, "Listing changes: Stale cursor: this account's change log was recreated since the cursor was issued. Reset: list changes again with an empty cursor and reconcile.");

    [Fact]
    public async Task A_file_that_keeps_changing_costs_a_bounded_number_of_passes_and_is_synced_once_it_settles()
    {
        // Every append wakes the daemon (short debounce) but the file is never quiet for long enough between
        // appends, so each of those passes leaves it pending and asks for a re-check: re-checks must merge.
        var options = new SyncOptions { StableAge = TimeSpan.FromSeconds(1), QuietPeriod = TimeSpan.FromMilliseconds(600) };
        using var a = new TestClient(_dir, "a", _server, options);
        var passes = 0;
        using var stop = new CancellationTokenSource(Bound);
        var daemon = new SyncDaemon(a.Context, _ => Interlocked.Increment(ref passes)) { Debounce = TimeSpan.FromMilliseconds(50) };
        var run = daemon.RunAsync(stop.Token);
        try
        {
            await WaitUntilAsync(() => Volatile.Read(ref passes) >= 1, run, "the first pass");
            const int appends = 10;
            var path = a.PathOf("busy.log");
            for (var i = 0; i < appends; i++)
            {
                File.AppendAllText(path, $"line {i}\n");
                await Task.Delay(TimeSpan.FromMilliseconds(300));
            }

            var size = (ulong)new FileInfo(path).Length;
            await WaitUntilAsync(() => _server.Current("busy.log")?.Size == size, run, "the settled file on the server");

            // Re-checks left over from the busy passes would fire from here on: count the passes for a while.
            await Task.Delay(TimeSpan.FromSeconds(3));
            var total = Volatile.Read(ref passes);

            // The first pass, one per append, the one that takes the settled file, the echo of its own commit
            // through the change feed, and a few spare (passes merge or split with timing). Unmerged re-checks cost
            // about one more pass per append on top (23 here), and more the longer the file keeps changing.
            Assert.True(total <= appends + 6, $"{total} passes for {appends} appends");
            Assert.Single(_server.History("busy.log"));
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task After_the_machine_slept_the_daemon_lists_everything_at_once_until_such_a_pass_succeeds_and_leaves_rehashing_to_the_reconcile_interval()
    {
        var clock = new SleepingClock();
        using var a = new TestClient(_dir, "a", _server, time: clock);
        a.Write("same-size.txt", "aaaa");
        File.SetLastWriteTimeUtc(a.PathOf("same-size.txt"), DateTime.UtcNow.AddMinutes(-1));
        await a.SyncAsync();
        var committed = _server.Current("same-size.txt")!.Version;

        // Bytes changed behind the client's back (same size, same mtime) in a file whose record has no ctime (a row
        // kept before the ctime was; a known one would show the change, see ChangeTimeTests): only a reconcile (its
        // interval, 24 h by default) re-reads them; a wake must not re-read the whole folder. Changed before the daemon
        // starts: its first pass would see the edit's ctime had it learned the file's ctime before it.
        var full = a.PathOf("same-size.txt");
        var mtime = File.GetLastWriteTimeUtc(full);
        await File.WriteAllTextAsync(full, "bbbb");
        File.SetLastWriteTimeUtc(full, mtime);
        a.State.TouchFile("same-size.txt", a.State.GetFile("same-size.txt")!.MtimeTicks, null);
        var summaries = new ConcurrentQueue<SyncSummary>();
        var headers = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource(Bound);
        var daemon = new SyncDaemon(a.Context, summaries.Enqueue) { PassStarting = headers.Enqueue, SleepCheckInterval = TimeSpan.FromMilliseconds(100), SleepThreshold = TimeSpan.FromSeconds(30) };
        var run = daemon.RunAsync(stop.Token);
        try
        {
            await WaitUntilAsync(() => !summaries.IsEmpty, run, "the first pass");
            var passes = summaries.Count;

            // The network is not back when the machine wakes: the first pass after it fails.
            _server.FailFullListings = 1;
            var listings = _server.ListFilesCalls;
            clock.Sleep(TimeSpan.FromHours(8));

            await WaitUntilAsync(() => summaries.Count > passes, run, "a pass that succeeds after the sleep", TimeSpan.FromSeconds(20));
            var slept = headers.Count(h => h.Contains("full listing, the machine slept", StringComparison.Ordinal));
            Assert.True(slept >= 2, string.Join("\n", headers));
            Assert.Equal(0, _server.FailFullListings);
            Assert.True(_server.ListFilesCalls > listings);
            Assert.Equal(committed, _server.Current("same-size.txt")!.Version);
            Assert.DoesNotContain(headers, h => h.Contains("reconcile", StringComparison.Ordinal));
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Theory]
    [InlineData(5, 5, false)] // awake
    [InlineData(8, 6, false)] // a slow check under load
    [InlineData(3605, 5, true)] // suspended for an hour: the monotonic clock stood
    [InlineData(3605, 3605, true)] // a platform whose monotonic clock counts the suspend: the check came an hour late
    [InlineData(-3595, 5, false)] // the wall clock set back an hour
    public void A_sleep_is_a_wall_clock_far_ahead_of_the_monotonic_one_or_a_check_far_too_late(int wallSeconds, int monoSeconds, bool slept) =>
        Assert.Equal(slept, SyncDaemon.Slept(TimeSpan.FromSeconds(wallSeconds), TimeSpan.FromSeconds(monoSeconds), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60)));

    private async Task<byte[]> HashAsync(TestClient client, byte[] content)
    {
        var path = Path.Combine(_dir.CreateSub("states"), Guid.NewGuid().ToString("N"));
        await File.WriteAllBytesAsync(path, content);
        var fp = await new FileHasher(client.Context.Chunker).TryHashAsync(path, CancellationToken.None);
        return fp!.ContentHash;
    }

    private async Task<int> IndexOfStateAsync(TestClient client, List<(byte[] Content, TimeSpan QuietAfter)> states, byte[] contentHash)
    {
        for (var i = 0; i < states.Count; i++)
        {
            if ((await HashAsync(client, states[i].Content)).AsSpan().SequenceEqual(contentHash))
            {
                return i;
            }
        }

        return -1;
    }

    private static SyncOptions QuickOptions => new() { StableAge = TimeSpan.FromMilliseconds(300), QuietPeriod = TimeSpan.FromMilliseconds(200) };

    /// <summary>
    /// Starts a daemon on <paramref name="a"/> with a 5-minute error back-off and returns once a pass has failed a file
    /// the server refuses every time ('refused.txt'); with the header of every pass it starts.
    /// </summary>
    private async Task<(Task Run, ConcurrentQueue<string> Passes)> StartWithARefusedFileAsync(TestClient a, CancellationToken ct)
    {
        _server.BeforePlanUpload = path =>
        {
            if (path == "refused.txt")
            {
                throw new DropboxException(ErrorKind.InvalidArgument, "simulated: the server refuses this file");
            }
        };
        var summaries = new ConcurrentQueue<SyncSummary>();
        var passes = new ConcurrentQueue<string>();
        var daemon = new SyncDaemon(a.Context, summaries.Enqueue) { Debounce = TimeSpan.FromMilliseconds(50), FirstErrorDelay = TimeSpan.FromMinutes(5), MaxErrorDelay = TimeSpan.FromMinutes(5), PassStarting = passes.Enqueue };
        var run = daemon.RunAsync(ct);
        await WaitUntilAsync(() => !summaries.IsEmpty, run, "the first pass");
        a.Write("refused.txt", "never accepted");
        await WaitUntilAsync(() => summaries.Any(s => s.Errors > 0), run, "a pass that failed the refused file");
        return (run, passes);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, Task daemon, string what, TimeSpan? bound = null)
    {
        var waited = Stopwatch.StartNew();
        while (!condition())
        {
            if (daemon.IsCompleted)
            {
                await daemon; // surfaces the daemon's exception
                Assert.Fail($"the daemon stopped before {what}");
            }

            Assert.True(waited.Elapsed < (bound ?? Bound), $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }
}
