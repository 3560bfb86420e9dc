using System.Threading.Channels;
using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The daemon's watch on the sync folder: a FileSystemWatcher whose events (those a pass would not ignore) are noted
/// per path (<see cref="WatchedChanges"/>, the evidence that lets a pass take a file once it was quiet) and, debounced,
/// ask for a pass; and a periodic check that notices the folder vanish or be replaced under the watch. A missing folder
/// is waited for, never synced as "everything deleted". It asks for passes by writing a reason to the daemon's
/// trigger channel.
/// </summary>
internal sealed class FolderWatch : IDisposable
{
    private readonly SyncContext _ctx;
    private readonly WatchedChanges _watched;
    private readonly ChannelWriter<string> _triggers;
    private readonly Func<IgnoreTree> _lastIgnore;
    private readonly Channel<bool> _localEvents = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private long _lastLocalEventTicks;
    private FileSystemWatcher? _watcher;
    private volatile bool _rewatch;

    // The folder check saw the sync folder missing at its last look (its "vanished" trigger is written once per absence).
    // Cleared when a watch starts: an absence right after a return is a new one, even if no check saw the folder between.
    private volatile bool _vanishedNoted;

    // The folder was waited for and came back since the last pass started: that pass is named for the return.
    private bool _cameBack;

    private bool _replacedNoted;
    private long _folderChecks;

    /// <param name="ctx">The daemon's context (its folder, state directory, options and clock).</param>
    /// <param name="watched">Where the watcher's per-path evidence goes (the daemon's passes read it).</param>
    /// <param name="triggers">The daemon's trigger channel: a reason written there asks for a pass.</param>
    /// <param name="lastIgnore">The ignore rules the last pass's scan found (events for ignored paths are dropped).</param>
    public FolderWatch(SyncContext ctx, WatchedChanges watched, ChannelWriter<string> triggers, Func<IgnoreTree> lastIgnore)
    {
        _ctx = ctx;
        _watched = watched;
        _triggers = triggers;
        _lastIgnore = lastIgnore;
    }

    /// <summary>Checks <see cref="CheckFolderAsync"/> has made (tests wait on these, not on time).</summary>
    public long FolderChecks => Interlocked.Read(ref _folderChecks);

    /// <summary>True once after the folder was waited for and came back (the next pass is named for the return).</summary>
    public bool TakeCameBack()
    {
        var cameBack = _cameBack;
        _cameBack = false;
        return cameBack;
    }

    /// <summary>
    /// Makes sure the sync folder exists and is watched. While it is missing: says so once, clearly, and waits
    /// (checking every <paramref name="checkInterval"/>); nothing is synced meanwhile. False when asked to stop.
    /// </summary>
    public async Task<bool> EnsureWatchedAsync(TimeSpan checkInterval, CancellationToken ct)
    {
        if (Directory.Exists(_ctx.Folder) && _watcher is not null && !_rewatch)
        {
            return true;
        }

        if (!Directory.Exists(_ctx.Folder))
        {
            _watcher?.Dispose();
            _watcher = null;
            _ctx.Progress.Log($"The sync folder '{_ctx.Folder}' is missing (moved, renamed, or on a drive that is not mounted). " +
                "Nothing is synced or deleted while it is away; waiting for it to come back. Ctrl-C stops; to link another folder run: login --folder DIR");
            while (!Directory.Exists(_ctx.Folder))
            {
                try
                {
                    await Task.Delay(checkInterval, _ctx.Time, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return false;
                }
            }

            _ctx.Progress.Log($"The sync folder '{_ctx.Folder}' is back: syncing.");
            _cameBack = true;
        }

        _rewatch = false;
        _watcher?.Dispose();
        _watched.Forget(); // what the old watch saw says nothing about this folder
        _watcher = CreateWatcher();
        _vanishedNoted = false;
        return true;
    }

    /// <summary>
    /// A sync folder that vanishes while the daemon is idle wakes it, so it says so (and waits) at once; one replaced
    /// under the watch moves the watch. Checks every <paramref name="checkInterval"/>.
    /// </summary>
    public async Task CheckFolderAsync(TimeSpan checkInterval, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(checkInterval, _ctx.Time, ct).ConfigureAwait(false);
            CheckFolder();
        }
    }

    /// <summary>One look of <see cref="CheckFolderAsync"/>.</summary>
    internal void CheckFolder()
    {
        Interlocked.Increment(ref _folderChecks);
        var missing = !Directory.Exists(_ctx.Folder);
        if (_watcher is not null && missing && !_vanishedNoted)
        {
            _triggers.TryWrite("the sync folder vanished"); // once: the pass that takes it waits for the return
        }

        _vanishedNoted = missing;
        if (missing)
        {
            return;
        }

        // Replaced at once (moved away and another made in its place, a drive unmounted under its mount point):
        // the watch still follows the old folder, so nothing else would wake the daemon. The pass refuses such a
        // folder (see FolderIdentity); the watch moves to the folder that is there now.
        var replaced = _watcher is not null && !FolderIdentity.Matches(_ctx.Folder, _ctx.State);
        if (replaced && !_replacedNoted)
        {
            _rewatch = true;
            _triggers.TryWrite("the sync folder was replaced");
        }

        _replacedNoted = replaced;
    }

    /// <summary>
    /// Asks for a pass once the folder was quiet for <paramref name="debounce"/> after a watcher event, or after
    /// <paramref name="maxDebounce"/> of events without such a pause (a file written without pause must not hold back
    /// every other change). Sleeps while nothing happens.
    /// </summary>
    public async Task DebounceAsync(TimeSpan debounce, TimeSpan maxDebounce, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            await _localEvents.Reader.ReadAsync(ct).ConfigureAwait(false);
            var first = _ctx.Time.GetTimestamp();
            while (true)
            {
                _localEvents.Reader.TryRead(out _); // events up to here are covered by this wait
                var quietFor = _ctx.Time.GetElapsedTime(Interlocked.Read(ref _lastLocalEventTicks));
                var waited = _ctx.Time.GetElapsedTime(first);
                if (quietFor >= debounce || waited >= maxDebounce)
                {
                    break;
                }

                var rest = debounce - quietFor;
                await Task.Delay(rest < maxDebounce - waited ? rest : maxDebounce - waited, _ctx.Time, ct).ConfigureAwait(false);
            }

            _watched.Prune(_ctx.Options.StableAge > maxDebounce ? _ctx.Options.StableAge : maxDebounce);
            _triggers.TryWrite("local change");
        }
    }

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
            var ignore = _lastIgnore();
            var matters = false;
            if (Matters(_ctx.Folder, _ctx.State.StateDirectory, ignore, e.FullPath))
            {
                _watched.Saw(SyncPaths.ToRelative(_ctx.Folder, e.FullPath));
                if (e.ChangeType == WatcherChangeTypes.Created && Directory.Exists(e.FullPath))
                {
                    SawNewFolder(e.FullPath, ignore);
                }

                matters = true;
            }

            if (e is RenamedEventArgs r && Matters(_ctx.Folder, _ctx.State.StateDirectory, ignore, r.OldFullPath))
            {
                _watched.Saw(SyncPaths.ToRelative(_ctx.Folder, r.OldFullPath));
                matters = true;
            }

            if (matters)
            {
                Interlocked.Exchange(ref _lastLocalEventTicks, _ctx.Time.GetTimestamp());
                _localEvents.Writer.TryWrite(true);
            }
        }

        watcher.Created += OnEvent;
        watcher.Changed += OnEvent;
        watcher.Deleted += OnEvent;
        watcher.Renamed += (s, e) => OnEvent(s, e);
        // A dropped-events overflow is what the periodic rescan is for; ask for one now. What the watcher saw is no
        // longer the whole story, so young files fall back to the stable-age rule until it sees them again.
        watcher.Error += (_, _) =>
        {
            _watched.Forget();
            _triggers.TryWrite("watcher overflow");
        };
        watcher.EnableRaisingEvents = true;
        return watcher;
    }

    /// <summary>
    /// The watch on a new folder starts only once the folder exists, so files written into it before then sent no
    /// event of their own: they count as seen now (they were written before now; a later write sends its event or
    /// moves the mtime). A folder moved in whole keeps the stable-age rule for its young files (it is not created).
    /// </summary>
    private void SawNewFolder(string fullPath, IgnoreTree ignore)
    {
        const int MaxFiles = 1000; // a few files just written, not a tree to walk on the watcher's thread
        try
        {
            var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint };
            foreach (var file in Directory.EnumerateFiles(fullPath, "*", options).Take(MaxFiles))
            {
                if (Matters(_ctx.Folder, _ctx.State.StateDirectory, ignore, file))
                {
                    _watched.Saw(SyncPaths.ToRelative(_ctx.Folder, file));
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone or unreadable again: the next pass sees what is there, by the stable-age rule.
        }
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

    /// <inheritdoc />
    public void Dispose() => _watcher?.Dispose();
}
