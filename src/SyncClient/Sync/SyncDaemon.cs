using System.Diagnostics;
using System.Threading.Channels;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The long-running sync: an initial pass, then a pass whenever the folder changes (FileSystemWatcher,
/// debounced by the quiet period; the watcher's per-path evidence lets a pass take a file as soon as it was quiet
/// for that long, see <see cref="Stability"/>), the server reports a change (long-polled ListChanges with adaptive back-off: seconds
/// while active, minutes while idle), <c>sync --now</c> drops <see cref="NowRequestFile"/> in the state
/// directory, or the periodic rescan is due (watchers drop events). Reconciles every
/// <see cref="ReconcileInterval"/> (a day unless configured). Cancelling the token stops it cleanly: the pass
/// under way stops after its current step (finished chunks and commits are kept in the db, an unfinished upload
/// resumes on the next run) and <see cref="RunAsync"/> returns normally.
/// </summary>
internal sealed class SyncDaemon
{
    /// <summary>A file whose appearance in the state directory asks the daemon for an immediate pass.</summary>
    public const string NowRequestFile = "now.request";

    /// <summary>A file whose appearance asks the running daemon to pause (no passes until resumed).</summary>
    public const string PauseRequestFile = "pause.request";

    /// <summary>A file whose appearance asks the paused daemon to resume.</summary>
    public const string ResumeRequestFile = "resume.request";

    /// <summary>Present in the state directory while the running daemon is paused.</summary>
    public const string PausedFile = "daemon.paused";

    /// <summary>Marks a running daemon (holds its pid while it runs).</summary>
    public const string PidFile = "daemon.pid";

    private readonly SyncContext _ctx;
    private readonly SyncEngine _engine;
    private readonly Action<SyncSummary> _onPass;
    private readonly Channel<string> _triggers = Channel.CreateBounded<string>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly WatchedChanges _watched;
    private readonly Lock _retriggerLock = new();
    private ITimer? _retrigger;
    private long _retriggerDue;
    private int _pendingStreak;
    private bool _leftWork;
    private TaskCompletionSource _passEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _passesStarted;
    private long _lastPassEnded;
    private readonly Channel<bool> _serverBack = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private volatile bool _lastPassFailed;
    private volatile TaskCompletionSource? _paused;
    private int _sleptSinceLastPass;

    /// <summary>The watch on the folder (its watcher, its debounce, its vanish and replace checks).</summary>
    private readonly FolderWatch _folderWatch;

    /// <summary>Checks the folder watch has made (tests wait on these, not on time).</summary>
    internal long FolderChecks => _folderWatch.FolderChecks;

    public SyncDaemon(SyncContext ctx, Action<SyncSummary> onPass)
    {
        _watched = new WatchedChanges(ctx.Time);
        _ctx = ctx.With(_watched);
        _engine = new SyncEngine(_ctx);
        _folderWatch = new FolderWatch(_ctx, _watched, _triggers.Writer, () => _engine.LastIgnore);
        _onPass = onPass;
        Debounce = ctx.Options.QuietPeriod;
    }

    /// <summary>
    /// Told "pass (reason)" as each pass starts (the command line holds it back and prints it only if the pass has
    /// something to say); unset, the line goes to the progress log.
    /// </summary>
    public Action<string>? PassStarting { get; init; }

    /// <summary>How long the folder must be quiet (no watcher event) before a local change starts a pass.</summary>
    public TimeSpan Debounce { get; init; }

    /// <summary>The longest a stream of watcher events (a file written without pause) may hold passes back.</summary>
    public TimeSpan MaxDebounce { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan RescanInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The reconcile period unless configured (<c>--reconcile-interval</c>).</summary>
    public static readonly TimeSpan DefaultReconcileInterval = TimeSpan.FromDays(1);

    /// <summary>How often a pass is a full reconcile (folder, db and server compared by fingerprint).</summary>
    public TimeSpan ReconcileInterval { get; init; } = DefaultReconcileInterval;

    public uint MinPollSeconds { get; init; } = 5;

    /// <summary>How often the server is probed while it cannot be reached (a pass follows at once when it answers again).</summary>
    public TimeSpan UnreachableProbeInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest wait before a failed pass is tried again (the wait doubles from <see cref="FirstErrorDelay"/> up to this).</summary>
    public TimeSpan MaxErrorDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The wait after the first failed pass (2 s).</summary>
    public TimeSpan FirstErrorDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often a missing sync folder is looked for, and how often a present one is checked for vanishing.</summary>
    public TimeSpan FolderCheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    public uint MaxPollSeconds { get; init; } = 240;

    /// <summary>How often the wall clock is compared with the monotonic one, to notice that the machine slept.</summary>
    public TimeSpan SleepCheckInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A wall clock that ran this much further than the monotonic one between two checks (which stands still while
    /// the machine is suspended), or a check that came this much later than asked, means the machine slept: the
    /// next pass is a full reconcile (what the watcher and the long poll missed meanwhile is found by fingerprint).
    /// </summary>
    public TimeSpan SleepThreshold { get; init; } = TimeSpan.FromSeconds(60);

    public async Task RunAsync(CancellationToken ct)
    {
        using var daemonLock = PassLock.AcquireDaemon(_ctx.State.StateDirectory);
        var pidFile = Path.Combine(_ctx.State.StateDirectory, PidFile);
        // Requests left by a daemon that died before it picked them up are not this daemon's: a stale
        // pause.request would otherwise pause it, days later, without anyone having asked.
        ClearRequests();
        await File.WriteAllTextAsync(pidFile, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), ct).ConfigureAwait(false);
        using var retrigger = _ctx.Time.CreateTimer(_ => FireRetrigger(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _retrigger = retrigger;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var background = new[]
        {
            PollRemoteAsync(stop.Token), _folderWatch.DebounceAsync(Debounce, MaxDebounce, stop.Token), WatchNowRequestsAsync(stop.Token),
            _folderWatch.CheckFolderAsync(FolderCheckInterval, stop.Token), WatchPauseRequestsAsync(stop.Token), WatchSleepAsync(stop.Token),
        };
        try
        {
            _triggers.Writer.TryWrite("start");
            var errorDelay = TimeSpan.Zero;
            var wakeOnNews = false; // the last pass ran to its end with some files failed: news ends its pause
            while (!ct.IsCancellationRequested)
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var untilReconcile = (LastReconcile() ?? _ctx.Time.GetUtcNow()) + ReconcileInterval - _ctx.Time.GetUtcNow();
                wait.CancelAfter(TimeSpan.FromTicks(Math.Clamp(untilReconcile.Ticks, TimeSpan.FromMilliseconds(100).Ticks, RescanInterval.Ticks)));
                string reason;
                try
                {
                    reason = await _triggers.Reader.ReadAsync(wait.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    reason = "periodic rescan";
                }
                catch (OperationCanceledException)
                {
                    break; // asked to stop while idle
                }

                if (_paused is { } paused)
                {
                    // Paused (sync --pause): what asked for this pass waits for sync --resume, then runs once.
                    try
                    {
                        await paused.Task.WaitAsync(ct).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }

                // A missing folder (moved, renamed, an unmounted drive) is waited for, never synced as "everything
                // deleted"; the watch starts (again) on the folder that is there.
                try
                {
                    if (!await _folderWatch.EnsureWatchedAsync(FolderCheckInterval, ct).ConfigureAwait(false))
                    {
                        break; // asked to stop while waiting
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
                {
                    _ctx.Progress.Log($"error: cannot watch the sync folder '{_ctx.Folder}': {e.Message}");
                    errorDelay = Grow(errorDelay);
                    ArmRecheck(errorDelay);
                    await PauseAfterErrorAsync(errorDelay, ct).ConfigureAwait(false);
                    continue;
                }

                if (_folderWatch.TakeCameBack())
                {
                    reason = "the sync folder came back"; // not what woke the daemon while it was away
                }

                var now = _ctx.Time.GetUtcNow();
                if (LastReconcile() is null)
                {
                    _ctx.Db.SetPassSetting(StateKeys.LastReconcile, now.ToString("O"));
                }

                // After a sleep: the whole server state listed (the long poll's connection died without a word) and the
                // folder scanned by size and mtime as every pass does; re-reading every byte is left to the reconcile
                // interval (a laptop's lid opening must not re-read a 200 GB folder). Until such a pass ends without
                // an error (the network is often not back yet), every pass is one.
                var sleeps = Volatile.Read(ref _sleptSinceLastPass);
                var slept = sleeps > 0;
                var reconcile = LastReconcile() is { } last && now - last >= ReconcileInterval;
                var engine = reconcile ? new SyncEngine(_ctx.With(_ctx.Options with { Reconcile = true }))
                    : slept ? new SyncEngine(_ctx.With(_ctx.Options with { ListAll = true }))
                    : _engine;
                CancelRetrigger(); // this pass sees everything a pending re-check would; it asks again if still needed
                var passNumber = Interlocked.Increment(ref _passesStarted);
                try
                {
                    var header = $"pass ({(reconcile ? "reconcile, due every " + Format.Duration(ReconcileInterval) : slept ? "full listing, the machine slept" : reason)})";
                    (PassStarting ?? _ctx.Progress.Log)(header);
                    var summary = await engine.RunPassAsync(ct).ConfigureAwait(false);
                    _onPass(summary);
                    ScheduleRecheck(summary);
                    if (slept && summary.Errors == 0)
                    {
                        Interlocked.Add(ref _sleptSinceLastPass, -sleeps); // a sleep noticed during the pass still counts
                    }

                    errorDelay = summary.Errors > 0 ? Grow(errorDelay) : TimeSpan.Zero;
                    wakeOnNews = true;
                    _lastPassFailed = summary.Errors > 0;
                    if (summary.Errors > 0)
                    {
                        ArmRecheck(errorDelay); // what failed is tried again, with back-off, without waiting for news
                    }
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e)
                {
                    // Any failure (server unreachable, a folder that vanished mid-pass, a disk error): reported on one
                    // line, tried again with back-off, and at once when the server answers again.
                    _ctx.Progress.Log("error: " + (e is DropboxException ? e.Message : $"{e.GetType().Name}: {e.Message}"));
                    errorDelay = Grow(errorDelay);
                    wakeOnNews = false;
                    _lastPassFailed = true;
                    ArmRecheck(errorDelay);
                }

                Volatile.Write(ref _lastPassEnded, passNumber);
                Interlocked.Exchange(ref _passEnded, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                if (errorDelay > TimeSpan.Zero)
                {
                    await PauseAfterErrorAsync(errorDelay, ct, wakeOnNews).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(background).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            _folderWatch.Dispose();
            File.Delete(Path.Combine(_ctx.State.StateDirectory, PausedFile));
            ClearRequests();
            File.Delete(pidFile);
        }
    }

    /// <summary>Deletes the request files (<c>sync --now</c>, <c>--pause</c>, <c>--resume</c>): each is meant for the daemon running when it was made.</summary>
    private void ClearRequests()
    {
        foreach (var name in new[] { NowRequestFile, PauseRequestFile, ResumeRequestFile })
        {
            File.Delete(Path.Combine(_ctx.State.StateDirectory, name));
        }
    }

    /// <summary>
    /// Failing passes must not spin: waits <paramref name="delay"/>, but wakes early for <c>sync --now</c> or when the
    /// server, unreachable before, answers again (the retry pass then runs at once).
    /// </summary>
    /// <param name="delay">The back-off.</param>
    /// <param name="ct">The daemon's token.</param>
    /// <param name="wakeOnNews">
    /// The pass ran to its end and only some files failed (one that cannot be read, a name the server refuses): a local
    /// or remote change ends the pause, so that one file failing for good does not hold every other change back by up to
    /// <see cref="MaxErrorDelay"/>. (Such a pass keeps its cursor; the long poll then follows the feed past the news it
    /// already reported, so the same change does not end every pause: see <see cref="PollRemoteAsync"/>.) A pass that
    /// failed as a whole (the server away) waits its back-off out.
    /// </param>
    private async Task PauseAfterErrorAsync(TimeSpan delay, CancellationToken ct, bool wakeOnNews = false)
    {
        _serverBack.Reader.TryRead(out _); // only a return noticed from here on ends the pause
        using var pause = CancellationTokenSource.CreateLinkedTokenSource(ct);
        pause.CancelAfter(delay);
        try
        {
            var back = _serverBack.Reader.WaitToReadAsync(pause.Token).AsTask();
            var news = wakeOnNews ? _triggers.Reader.WaitToReadAsync(pause.Token).AsTask() : Task.Delay(Timeout.Infinite, pause.Token);
            await Task.WhenAny(WaitForNowRequestAsync(pause.Token), back, news).ConfigureAwait(false);
            if (back.IsCompletedSuccessfully)
            {
                _serverBack.Reader.TryRead(out _);
                _triggers.Writer.TryWrite("the server answers again");
            }
        }
        catch (OperationCanceledException)
        {
            // The pause ended, or the daemon is stopping: the loop condition tells which.
        }
        finally
        {
            await pause.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Notices that the machine slept (see <see cref="SleepThreshold"/>) and asks for a reconcile pass at once: while it
    /// slept, the other devices' changes piled up, the long poll's connection died without a word, and the watcher may
    /// have missed what happened to a removable or network folder.
    /// </summary>
    private async Task WatchSleepAsync(CancellationToken ct)
    {
        var wall = _ctx.Time.GetUtcNow();
        var mono = _ctx.Time.GetTimestamp();
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(SleepCheckInterval, _ctx.Time, ct).ConfigureAwait(false);
            var wallNow = _ctx.Time.GetUtcNow();
            var monoElapsed = _ctx.Time.GetElapsedTime(mono);
            var wallElapsed = wallNow - wall;
            wall = wallNow;
            mono = _ctx.Time.GetTimestamp();
            if (Slept(wallElapsed, monoElapsed, SleepCheckInterval, SleepThreshold))
            {
                Interlocked.Increment(ref _sleptSinceLastPass);
                _triggers.Writer.TryWrite("the machine slept");
            }
        }
    }

    /// <summary>
    /// True when, between two checks <paramref name="interval"/> apart, the wall clock ran <paramref name="threshold"/>
    /// further than the monotonic clock (a suspend, where the monotonic clock stands), or the check itself came that much
    /// late (a platform whose monotonic clock counts the suspend, or a stopped process). A wall clock set back is not a sleep.
    /// </summary>
    internal static bool Slept(TimeSpan wallElapsed, TimeSpan monoElapsed, TimeSpan interval, TimeSpan threshold) =>
        wallElapsed - monoElapsed > threshold || monoElapsed > interval + threshold;
    /// <summary>
    /// After a pass that left files pending (or read some racily, see <see cref="State.RacyClean"/>: they must be read
    /// again once past the stable age; or could not read some, which are read again after the engine's backoff, see
    /// <see cref="UnreadableFile"/>), one re-check pass once the soonest of them could have settled. There
    /// is never more than one re-check waiting (a pass cancels it, an earlier one replaces a later one), so a file
    /// that keeps changing costs a bounded number of passes; re-checks that find it changing again back off
    /// (doubling up to the stable age). A watched file that goes quiet also wakes the daemon through the watcher.
    /// </summary>
    private void ScheduleRecheck(SyncSummary summary)
    {
        _leftWork = summary.Pending > 0 || summary.Racy > 0 || summary.Unreadable > 0;
        if (!_leftWork)
        {
            _pendingStreak = 0;
            return;
        }

        var quiet = _ctx.Options.QuietPeriod > TimeSpan.Zero ? _ctx.Options.QuietPeriod : TimeSpan.FromMilliseconds(250);
        var backoff = TimeSpan.FromTicks(quiet.Ticks << Math.Min(_pendingStreak, 16));
        var cap = _ctx.Options.StableAge > quiet ? _ctx.Options.StableAge : quiet;
        _pendingStreak++;
        var delay = summary.RecheckAfter is { } due && due > quiet ? due : quiet;
        if (backoff > delay)
        {
            delay = backoff < cap ? backoff : cap;
        }

        ArmRecheck(delay);
    }

    /// <summary>One re-check pass <paramref name="delay"/> from now, unless one already comes sooner.</summary>
    private void ArmRecheck(TimeSpan delay)
    {
        lock (_retriggerLock)
        {
            var at = _ctx.Time.GetTimestamp() + (long)(delay.TotalSeconds * _ctx.Time.TimestampFrequency);
            if (_retriggerDue != 0 && _retriggerDue <= at)
            {
                return; // one re-check already comes sooner
            }

            _retriggerDue = at;
            _retrigger?.Change(delay, Timeout.InfiniteTimeSpan);
        }
    }

    private void CancelRetrigger()
    {
        lock (_retriggerLock)
        {
            _retriggerDue = 0;
            _retrigger?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    private void FireRetrigger()
    {
        lock (_retriggerLock)
        {
            if (_retriggerDue == 0)
            {
                return; // cancelled by a pass that started meanwhile
            }

            _retriggerDue = 0;
        }

        _triggers.Writer.TryWrite(_lastPassFailed ? "retry after an error" : "files that were still changing");
    }

    private TimeSpan Grow(TimeSpan delay) =>
        delay == TimeSpan.Zero ? FirstErrorDelay : TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, Math.Max(MaxErrorDelay.Ticks, FirstErrorDelay.Ticks)));

    private DateTimeOffset? LastReconcile() =>
        _ctx.State.GetSetting(StateKeys.LastReconcile) is { } s && DateTimeOffset.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out var t) ? t : null;

    private async Task WatchNowRequestsAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            await WaitForNowRequestAsync(ct).ConfigureAwait(false);
            _triggers.Writer.TryWrite("sync --now");
        }
    }

    /// <summary>
    /// <c>sync --pause</c> and <c>sync --resume</c> drop a request file in the state directory, as <c>sync --now</c>
    /// does: a pause lets the pass under way finish and starts no other (the poll and the watcher keep noting what
    /// changed); a resume runs one pass at once.
    /// </summary>
    private async Task WatchPauseRequestsAsync(CancellationToken ct)
    {
        var pause = Path.Combine(_ctx.State.StateDirectory, PauseRequestFile);
        var resume = Path.Combine(_ctx.State.StateDirectory, ResumeRequestFile);
        var marker = Path.Combine(_ctx.State.StateDirectory, PausedFile);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
        {
            if (File.Exists(pause))
            {
                File.Delete(pause);
                if (_paused is null)
                {
                    _paused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    await File.WriteAllTextAsync(marker, DateTimeOffset.UtcNow.ToString("O"), ct).ConfigureAwait(false);
                    _ctx.Progress.Log("paused: no passes until 'sync --resume' (a pass under way finishes).");
                }
            }

            if (File.Exists(resume))
            {
                File.Delete(resume);
                if (_paused is { } paused)
                {
                    _paused = null;
                    File.Delete(marker);
                    _ctx.Progress.Log("resumed.");
                    _triggers.Writer.TryWrite("sync --resume");
                    paused.TrySetResult();
                }
            }
        }
    }

    private async Task WaitForNowRequestAsync(CancellationToken ct)
    {
        var request = Path.Combine(_ctx.State.StateDirectory, NowRequestFile);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
        {
            if (File.Exists(request))
            {
                File.Delete(request);
                return;
            }
        }
    }

    /// <summary>Waits until a pass started after the first <paramref name="startedBefore"/> passes has ended (or the bound passes).</summary>
    private async Task WaitForPassAfterAsync(long startedBefore, TimeSpan bound, CancellationToken ct)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var ended = Volatile.Read(ref _passEnded).Task;
            var left = bound - waited.Elapsed;
            if (Volatile.Read(ref _lastPassEnded) > startedBefore || left <= TimeSpan.Zero)
            {
                return;
            }

            try
            {
                await ended.WaitAsync(left, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return; // a pass that long (a big download): ask again; the feed says whether there is still news
            }
        }
    }

    /// <summary>
    /// What the failed passes left (a file written meanwhile, a commit cut off) goes now, not at the next local change:
    /// ends the back-off pause, or asks for a pass.
    /// </summary>
    private void ServerAnswersAgain()
    {
        _serverBack.Writer.TryWrite(true);
        _triggers.Writer.TryWrite("the server answers again");
    }

    private async Task PollRemoteAsync(CancellationToken ct)
    {
        var wait = MinPollSeconds;
        var failures = 0;
        var unreachable = false;
        string? cursor = null;
        string? resetAskedFor = null;
        string? pollFrom = null; // the stored cursor, or past news already reported that a failed pass kept it before
        string? storedSeen = null;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                cursor = _ctx.State.GetSetting(StateKeys.Cursor);
                if (string.IsNullOrEmpty(cursor))
                {
                    await Task.Delay(TimeSpan.FromSeconds(MinPollSeconds), ct).ConfigureAwait(false);
                    continue;
                }

                if (cursor != storedSeen || string.IsNullOrEmpty(pollFrom))
                {
                    storedSeen = cursor;
                    pollFrom = cursor;
                }

                var asked = Stopwatch.GetTimestamp();
                // While the server was unreachable: a quick probe (no long poll), so its return is noticed at once.
                var response = await _ctx.Metadata.ListChangesAsync(new ListChangesRequest { Cursor = pollFrom, Limit = 1, WaitSeconds = failures > 0 ? 0 : wait }, ct).ConfigureAwait(false);
                unreachable = false;
                if (failures > 0)
                {
                    failures = 0;
                    wait = MinPollSeconds;
                    if (_lastPassFailed)
                    {
                        ServerAnswersAgain();
                    }

                    continue;
                }

                if (response.Changes.Count > 0)
                {
                    var startedBefore = Interlocked.Read(ref _passesStarted);
                    _triggers.Writer.TryWrite("remote change");
                    wait = MinPollSeconds; // active: poll again soon
                    // Let a pass that starts from here on (so lists this change) advance the cursor before asking
                    // again, and ask again as soon as it did: the next change is then seen the moment it is committed.
                    await WaitForPassAfterAsync(startedBefore, TimeSpan.FromMinutes(1), ct).ConfigureAwait(false);

                    if (_ctx.State.GetSetting(StateKeys.Cursor) == cursor)
                    {
                        // The pass kept the cursor (a change waits for a local file, or a step failed): the feed would
                        // answer at once with the same change, so do not ask in a tight loop. After a pass with failed
                        // files the poll asks from past this change: that pass's back-off ends at news, and the same
                        // change again is none (the next pass still lists from the stored cursor).
                        if (_lastPassFailed && !string.IsNullOrEmpty(response.Cursor))
                        {
                            pollFrom = response.Cursor;
                        }

                        await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                    }
                }
                else
                {
                    if (Stopwatch.GetElapsedTime(asked) < TimeSpan.FromSeconds(wait) / 2)
                    {
                        // "Nothing new" long before the wait asked for: a server that does not hold the poll is not
                        // asked again in a tight loop.
                        await Task.Delay(TimeSpan.FromSeconds(MinPollSeconds), ct).ConfigureAwait(false);
                    }

                    wait = Math.Min(MaxPollSeconds, wait * 2); // idle: back off towards minutes
                }
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                pollFrom = cursor; // asked again from the stored cursor
                // A refusal is an answer: the server is back. A metadata node restarted after a crash refuses every
                // cursor it issued before (a new change-log epoch), so the first probe after its return is refused; the
                // pass it asks for resets the cursor. Asked once per return, so a lasting refusal (a revoked token)
                // leaves the passes to their back-off.
                var refused = e is DropboxException { Kind: not ErrorKind.Unavailable };
                if (refused && unreachable && _lastPassFailed)
                {
                    ServerAnswersAgain();
                }
                else if (e is DropboxException reset && RemoteErrors.IsCursorReset(reset) && cursor != resetAskedFor)
                {
                    // Refused while all was quiet here: the feed cannot be followed until a pass lists everything and
                    // takes a new cursor (once per refused cursor; the pass's own failure has its back-off).
                    resetAskedFor = cursor;
                    _triggers.Writer.TryWrite("the server reset the change feed");
                }

                unreachable = !refused;

                // Unreachable (or refusing): probe again soon, a little less often each time, never less often than
                // UnreachableProbeInterval, so a returning server is noticed within that. Any failure counts, not only
                // the translated ones: a call the server or a proxy reset with CANCEL reaches here as "cancelled", and
                // a poll that ended on it would leave every later return of the server to the growing retry back-off.
                failures++;
                if (failures == 1 && e is not DropboxException)
                {
                    _ctx.Progress.Log($"error: asking the server for changes: {e.GetType().Name}: {e.Message}");
                }

                var delay = TimeSpan.FromSeconds(Math.Min(UnreachableProbeInterval.TotalSeconds, 1 << Math.Min(failures - 1, 6)));
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
        }
    }
}
