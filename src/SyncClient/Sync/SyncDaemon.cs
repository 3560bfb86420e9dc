using System.Diagnostics;
using System.Threading.Channels;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The long-running sync: an initial pass, then a pass whenever the folder changes (FileSystemWatcher,
/// debounced), the server reports a change (long-polled ListChanges with adaptive back-off: seconds
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

    /// <summary>Marks a running daemon (holds its pid while it runs).</summary>
    public const string PidFile = "daemon.pid";

    private readonly SyncContext _ctx;
    private readonly SyncEngine _engine;
    private readonly Action<SyncSummary> _onPass;
    private readonly Channel<string> _triggers = Channel.CreateBounded<string>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private long _lastLocalEventTicks;

    public SyncDaemon(SyncContext ctx, Action<SyncSummary> onPass)
    {
        _ctx = ctx;
        _engine = new SyncEngine(ctx);
        _onPass = onPass;
    }

    public TimeSpan Debounce { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan RescanInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The reconcile period unless configured (<c>--reconcile-interval</c>).</summary>
    public static readonly TimeSpan DefaultReconcileInterval = TimeSpan.FromDays(1);

    /// <summary>How often a pass is a full reconcile (folder, db and server compared by fingerprint).</summary>
    public TimeSpan ReconcileInterval { get; init; } = DefaultReconcileInterval;

    public uint MinPollSeconds { get; init; } = 5;

    public uint MaxPollSeconds { get; init; } = 240;

    public async Task RunAsync(CancellationToken ct)
    {
        using var daemonLock = PassLock.AcquireDaemon(_ctx.State.StateDirectory);
        var pidFile = Path.Combine(_ctx.State.StateDirectory, PidFile);
        await File.WriteAllTextAsync(pidFile, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), ct).ConfigureAwait(false);
        using var watcher = CreateWatcher();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var background = new[] { PollRemoteAsync(stop.Token), WatchLocalAsync(stop.Token), WatchNowRequestsAsync(stop.Token) };
        try
        {
            _triggers.Writer.TryWrite("start");
            var errorDelay = TimeSpan.Zero;
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

                var now = _ctx.Time.GetUtcNow();
                if (LastReconcile() is null)
                {
                    _ctx.State.SetSetting(StateKeys.LastReconcile, now.ToString("O"));
                }

                var reconcile = LastReconcile() is { } last && now - last >= ReconcileInterval;
                var engine = reconcile ? new SyncEngine(new SyncContextWithOptions(_ctx, _ctx.Options with { Reconcile = true }).Context) : _engine;
                try
                {
                    _ctx.Progress.Log($"pass ({(reconcile ? "reconcile, due every " + Format.Duration(ReconcileInterval) : reason)})");
                    var summary = await engine.RunPassAsync(ct).ConfigureAwait(false);
                    _onPass(summary);
                    if (summary.Pending > 0)
                    {
                        _ = RetriggerAsync(TimeSpan.FromSeconds(2) + _ctx.Options.StableAge, ct);
                    }

                    errorDelay = summary.Errors > 0 ? Grow(errorDelay) : TimeSpan.Zero;
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
                catch (DropboxException e)
                {
                    _ctx.Progress.Log("error: " + e.Message);
                    errorDelay = Grow(errorDelay);
                }

                if (errorDelay > TimeSpan.Zero)
                {
                    // Failing passes must not spin: wait, but still wake for an explicit request.
                    using var pause = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    pause.CancelAfter(errorDelay);
                    try
                    {
                        await WaitForNowRequestAsync(pause.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        // The pause ended, or the daemon is stopping: the loop condition tells which.
                    }
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

            File.Delete(pidFile);
        }
    }

    private async Task RetriggerAsync(TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, _ctx.Time, ct).ConfigureAwait(false);
            _triggers.Writer.TryWrite("files that were still changing");
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static TimeSpan Grow(TimeSpan delay) =>
        delay == TimeSpan.Zero ? TimeSpan.FromSeconds(2) : TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMinutes(5).Ticks));

    private DateTimeOffset? LastReconcile() =>
        _ctx.State.GetSetting(StateKeys.LastReconcile) is { } s && DateTimeOffset.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out var t) ? t : null;

    private FileSystemWatcher CreateWatcher()
    {
        var watcher = new FileSystemWatcher(_ctx.Folder)
        {
            IncludeSubdirectories = true,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size,
            InternalBufferSize = 64 * 1024,
        };
        void OnEvent(object? sender, FileSystemEventArgs e)
        {
            var ignore = _engine.LastIgnore;
            if (Matters(_ctx.Folder, _ctx.State.StateDirectory, ignore, e.FullPath)
                || (e is RenamedEventArgs r && Matters(_ctx.Folder, _ctx.State.StateDirectory, ignore, r.OldFullPath)))
            {
                Interlocked.Exchange(ref _lastLocalEventTicks, _ctx.Time.GetTimestamp());
            }
        }

        watcher.Created += OnEvent;
        watcher.Changed += OnEvent;
        watcher.Deleted += OnEvent;
        watcher.Renamed += (s, e) => OnEvent(s, e);
        // A dropped-events overflow is what the periodic rescan is for; ask for one now.
        watcher.Error += (_, _) => _triggers.Writer.TryWrite("watcher overflow");
        watcher.EnableRaisingEvents = true;
        return watcher;
    }

    /// <summary>
    /// False for events a pass would ignore anyway (the client's own temp files, paths the last scan's ignore
    /// rules exclude, such as a build folder churning), so they do not cause passes. A change to an ignore
    /// file always matters: it may change what is ignored.
    /// </summary>
    internal static bool Matters(string folder, string stateDirectory, IgnoreTree ignore, string fullPath)
    {
        var name = Path.GetFileName(fullPath);
        if (name.StartsWith(IgnoreMatcher.TempPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        if (name == IgnoreMatcher.IgnoreFileName)
        {
            return true;
        }

        var state = Path.TrimEndingDirectorySeparator(Path.GetFullPath(stateDirectory));
        if (fullPath == state || fullPath.StartsWith(state + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            return false; // a state directory inside the folder: the db's own writes
        }

        var relative = SyncPaths.ToRelative(folder, fullPath);
        return relative.StartsWith("..", StringComparison.Ordinal) || !ignore.IsIgnored(relative, Directory.Exists(fullPath));
    }

    private async Task WatchLocalAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
        {
            var last = Interlocked.Read(ref _lastLocalEventTicks);
            if (last != 0 && _ctx.Time.GetElapsedTime(last) >= Debounce)
            {
                Interlocked.CompareExchange(ref _lastLocalEventTicks, 0, last);
                _triggers.Writer.TryWrite("local change");
            }
        }
    }

    private async Task WatchNowRequestsAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            await WaitForNowRequestAsync(ct).ConfigureAwait(false);
            _triggers.Writer.TryWrite("sync --now");
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

    private async Task PollRemoteAsync(CancellationToken ct)
    {
        var wait = MinPollSeconds;
        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var cursor = _ctx.State.GetSetting(StateKeys.Cursor);
                if (string.IsNullOrEmpty(cursor))
                {
                    await Task.Delay(TimeSpan.FromSeconds(MinPollSeconds), ct).ConfigureAwait(false);
                    continue;
                }

                var asked = Stopwatch.GetTimestamp();
                var response = await _ctx.Metadata.ListChangesAsync(new ListChangesRequest { Cursor = cursor, Limit = 1, WaitSeconds = wait }, ct).ConfigureAwait(false);
                failures = 0;
                if (response.Changes.Count > 0)
                {
                    _triggers.Writer.TryWrite("remote change");
                    wait = MinPollSeconds; // active: poll again soon
                    // Let the pass advance the cursor before asking again.
                    await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
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
            catch (DropboxException)
            {
                failures++;
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(60, 1 << Math.Min(failures, 6))), ct).ConfigureAwait(false);
            }
        }
    }

    private sealed class SyncContextWithOptions(SyncContext source, SyncOptions options)
    {
        public SyncContext Context { get; } = new()
        {
            Folder = source.Folder,
            State = source.State,
            Metadata = source.Metadata,
            Transfer = source.Transfer,
            Chunker = source.Chunker,
            Device = source.Device,
            Options = options,
            Progress = source.Progress,
            Time = source.Time,
        };
    }
}
