using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Remote;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Remote changes to withheld paths. The cursor moves past a change the planner had to skip because its path was
/// withheld here (the losing name of a case clash, a folder it could not read), so the feed never brings it again:
/// the path is remembered in the db instead, and every pass looks up its remote state until it is applied.
/// One instance per engine: the lookups' back-off spans its passes.
/// </summary>
/// <remarks>
/// The remembered changes due in a pass are judged together, never released in slices: more than
/// <see cref="MaxWithheldLookups"/> of them are answered by one listing of the folder that holds them all (so the
/// planner's mass-delete guard sees every remembered delete at once: 300 files deleted on the server while their folder
/// could not be read here are one pass's 300 deletes, held, not three passes of 100 that each pass the guard). Such a
/// listing is made at most once a <see cref="ListingInterval"/>; in between, those that would need it wait, withheld.
/// </remarks>
internal sealed class WithheldPaths(SyncContext ctx)
{
    private readonly SyncContext _ctx = ctx;

    /// <summary>Most remembered paths whose remote state one pass looks up (one call each); more are answered by one listing.</summary>
    internal const int MaxWithheldLookups = 100;

    /// <summary>
    /// Least time between the listings made for remembered paths (see <see cref="ListStatesAsync"/>): a daemon whose
    /// many remembered paths stay skipped (a kind clash left as it is, an obstacle file written to every second) does not
    /// list the account on every pass.
    /// </summary>
    internal TimeSpan ListingInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>When (the clock's monotonic timestamp) this engine last listed for remembered paths (null: never).</summary>
    private long? _listedAt;

    /// <summary>
    /// Remembered paths this pass left unanswered (more than <see cref="MaxWithheldLookups"/> due within
    /// <see cref="ListingInterval"/> of the last listing for them): withheld this pass, their changes wait.
    /// </summary>
    public int WaitingForListing { get; private set; }

    /// <summary>When <see cref="WaitingForListing"/>: how long until the next listing for them may be made.</summary>
    public TimeSpan ListingDueIn { get; private set; }

    /// <summary>Most passes (that hold remembered paths) a path whose looked-up change keeps being skipped waits between lookups.</summary>
    internal const int MaxLookupBackoff = 32;

    /// <summary>
    /// Remembered paths whose looked-up change the planner skipped again (a kind clash the user has not resolved, say):
    /// how often in a row, and the first pass that looks again. In memory: a daemon's passes back off, each run of
    /// <c>sync --once</c> looks once.
    /// </summary>
    /// <remarks>
    /// The remote entry last looked up is kept with the record: a backed-off pass hands it to the planner without the
    /// call, so the path is decided as before (skipped again) and a plain new file there is never uploaded beside it.
    /// </remarks>
    private readonly Dictionary<string, (int Misses, long NextPass, string Here, RemoteEntry Entry)> _lookupBackoff = new(StringComparer.Ordinal);

    /// <summary>What this pass found here at and above each path it looked up (see <see cref="WhatIsHere"/>), and the entry the lookup found.</summary>
    private readonly Dictionary<string, (string Here, RemoteEntry Entry)> _lookedUpHere = new(StringComparer.Ordinal);

    /// <summary>Paths this pass handed to the planner from a back-off record, without a lookup.</summary>
    private readonly HashSet<string> _fromBackoff = new(StringComparer.Ordinal);

    /// <summary>
    /// Remembered paths a full listing pass holds the newest state of (not looked up, not injected: the listing put them
    /// in the remote view): decided by the planner as looked-up ones are, and remembered again if skipped.
    /// </summary>
    private readonly HashSet<string> _listed = new(StringComparer.Ordinal);

    private long _withheldPasses;

    /// <summary>
    /// Adds to <paramref name="remote"/> the current remote state of every remembered withheld path that is no longer
    /// withheld and has no newer change in this pass's feed, so the planner decides it as a remote change: looked up one
    /// by one, or all from one listing when more than <see cref="MaxWithheldLookups"/> are due (those wait, withheld this
    /// pass, when the last such listing is not <see cref="ListingInterval"/> old). Returns the remembered paths to keep as
    /// they are (still withheld, or not answered this pass) and those added.
    /// </summary>
    public async Task<(HashSet<string> Keep, HashSet<string> Injected)> ReexamineWithheldAsync(
        HashSet<string> stored, Dictionary<string, BaseStat> index, LocalSnapshot snapshot, RemoteView remote, NewFiles newFiles, CancellationToken ct)
    {
        var keep = new HashSet<string>(StringComparer.Ordinal);
        var injected = new HashSet<string>(StringComparer.Ordinal);
        var pass = ++_withheldPasses;
        _lookedUpHere.Clear();
        _fromBackoff.Clear();
        _listed.Clear();
        WaitingForListing = 0;

        // What is here at each path, taken before any file is handed back below (so the answer does not depend on
        // the order the paths are visited in), plain new files and ignore rules included. A delta's paths it has no
        // change for are looked up; a full listing's are those it holds (it has the newest state of every path).
        Dictionary<string, (long Size, long MtimeTicks)>? newByPath = null;
        var heres = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in stored)
        {
            if (!snapshot.IsWithheld(path) && !remote.IsRefused(path) && remote.Changes.ContainsKey(path) == remote.FullListing)
            {
                heres[path] = WhatIsHere(path, index, snapshot, newByPath ??= newFiles.ByPath());
            }
        }

        // Those whose last answer does not stand (none, something here changed, or its back-off is over) need one. More
        // than one pass may look up are answered together (one listing), never a slice a pass: the planner's mass-delete
        // guard must see every remembered delete at once.
        var due = remote.FullListing ? [] : heres.Where(h => !BackedOff(h.Key, h.Value, pass)).Select(h => h.Key).ToList();
        var many = due.Count > MaxWithheldLookups;
        Dictionary<string, RemoteEntry?>? listed = null;
        HashSet<string>? waiting = null;
        if (many && (_listedAt is not { } at || _ctx.Time.GetElapsedTime(at) >= ListingInterval))
        {
            listed = await ListStatesAsync(due, ct).ConfigureAwait(false);
            _listedAt = _ctx.Time.GetTimestamp();
        }
        else if (many)
        {
            // Listed for them moments ago: a path whose last answer is for what is here still is decided by it again
            // (see BackedOff); the others are looked up if few enough, else they wait for the next listing, withheld.
            var unanswered = due.Where(p => !(_lookupBackoff.TryGetValue(p, out var b) && b.Here == heres[p])).ToList();
            if (unanswered.Count > MaxWithheldLookups)
            {
                waiting = [.. unanswered];
                ListingDueIn = ListingInterval - _ctx.Time.GetElapsedTime(_listedAt!.Value);
            }
        }

        foreach (var path in stored)
        {
            if (!remote.FullListing && remote.Changes.ContainsKey(path))
            {
                // A change this delta holds at the path is newer than the answer a back-off keeps for it: kept, that answer
                // outlived it (a full listing's record of a delete the followed moves' memory put in its view, decided again
                // once the file was readable, deleted here a file made again on the server since: review wh53).
                _lookupBackoff.Remove(path);
            }

            if (snapshot.IsWithheld(path) || remote.IsRefused(path) || waiting?.Contains(path) == true)
            {
                keep.Add(path);
                continue;
            }

            if (!heres.TryGetValue(path, out var here))
            {
                continue; // this pass already holds the path's newest remote state
            }

            if (remote.FullListing)
            {
                // In the remote view already: remembered again if skipped, and backed off as a looked-up path would be.
                _listed.Add(path);
                _lookedUpHere[path] = (here, remote.Changes[path]);
                continue;
            }

            RemoteEntry? entry;
            if (listed is not null && listed.TryGetValue(path, out var fromListing))
            {
                entry = fromListing;
                if (entry is not null)
                {
                    _lookedUpHere[path] = (here, entry);
                }
            }
            else if (_lookupBackoff.TryGetValue(path, out var backoff) && backoff.Here == here && (pass < backoff.NextPass || many))
            {
                // Backed off (or its turn given to a listing not made yet): nothing here changed, so the last answer is
                // decided again (without the call).
                entry = backoff.Entry;
                _fromBackoff.Add(path);
            }
            else
            {
                entry = await FetchRemoteStateAsync(_ctx.Metadata, path, _ctx.ReservedPath, ct).ConfigureAwait(false);
                if (entry is not null)
                {
                    _lookedUpHere[path] = (here, entry);
                }
            }

            ref var stat = ref CollectionsMarshal.GetValueRefOrNullRef(index, path);
            var known = !Unsafe.IsNullRef(ref stat);
            if (entry is null || (known ? stat.IsSyncedState(entry.Kind, entry.Version, entry.Size, entry.ContentHash) && !entry.Deleted : entry.Deleted))
            {
                // The server does not know the path, or holds what was synced. Any other state goes to the planner, an
                // older one too (a server restored from a backup): it never downloads that over the newer file here
                // but uploads this one again (see SyncPlanner.WentBack).
                continue;
            }

            remote.Changes[path] = entry;
            injected.Add(path);
            if (newFiles.TryTakeBack(path, out var local))
            {
                // The scan queued an untracked file here as a plain new upload before the remote entry was known: it
                // goes to the planner instead (same content: nothing to do; else a conflict), never both a new download
                // over it and an upload after.
                snapshot.Entries[path] = local;
            }

            if (known && stat.Clean)
            {
                // The scan left it out as unchanged against the db, which (being clean) is exactly what it holds; a file
                // is observed now (the scan does not observe a clean one).
                stat.Clean = false;
                snapshot.Entries[path] = stat.Kind == FileKind.File
                    // The recorded ctime, which a clean file's scan saw unchanged: a download over it then checks the file is
                    // still as scanned by it too (an in-place edit meanwhile, its size and mtime put back, is kept). Last read
                    // without a ctime: clean, so the scan saw none either.
                    ? new LocalEntry(path, FileKind.File, stat.Size, stat.MtimeTicks, _ctx.Stability().SettlesIn(path, stat.MtimeTicks)) { ChangeTimeNs = stat.ChangeTimeNs is 0 or FileChangeTime.ReadWithout ? null : stat.ChangeTimeNs }
                    : LocalEntry.Folder(path);
            }
        }

        if (waiting is not null)
        {
            Withhold(waiting, snapshot, newFiles);
            WaitingForListing = waiting.Count;
        }

        return (keep, injected);
    }

    /// <summary>True when the path's last answer stands this pass: looked up before, for what is here still, its back-off not over.</summary>
    private bool BackedOff(string path, string here, long pass) =>
        _lookupBackoff.TryGetValue(path, out var backoff) && pass < backoff.NextPass && backoff.Here == here;

    /// <summary>
    /// Remembered paths whose remote state is unknown this pass are left alone on both sides, as refused ones are: what is
    /// here at and under them leaves the snapshot (a plain new file there is not uploaded either), so nothing there is
    /// deleted, uploaded or downloaded on the word of a view that lacks their change.
    /// </summary>
    private static void Withhold(HashSet<string> paths, LocalSnapshot snapshot, NewFiles newFiles)
    {
        newFiles.GiveBack(paths, snapshot);
        foreach (var path in snapshot.Entries.Keys.Where(p => SyncPaths.IsAtOrUnderAny(p, paths)).ToList())
        {
            snapshot.Entries.Remove(path);
        }

        snapshot.Withheld.UnionWith(paths);
    }

    /// <summary>
    /// The current remote state of many remembered paths (deleted included) from one listing, paged, of the deepest folder
    /// that holds them all (the whole account when they share none); the folder itself, not in its own listing, is looked
    /// up. A path the listing lacks, or whose entry the client refuses, answers null, as its lookup would.
    /// </summary>
    private async Task<Dictionary<string, RemoteEntry?>> ListStatesAsync(List<string> paths, CancellationToken ct)
    {
        var folder = CommonFolder(paths);
        var under = folder.Length == 0 ? string.Empty : folder + "/";
        var states = paths.ToDictionary(p => p, _ => (RemoteEntry?)null, StringComparer.Ordinal);
        await foreach (var page in RemoteChanges.ListFilesPagedAsync(_ctx.Metadata, folder, includeDeleted: true, _ctx.Options.MaxListPages, ct).ConfigureAwait(false))
        {
            foreach (var e in page.Entries)
            {
                if (e.Path.StartsWith(under, StringComparison.Ordinal) && states.ContainsKey(e.Path))
                {
                    states[e.Path] = Believed(e, _ctx.ReservedPath);
                }
            }
        }

        if (folder.Length > 0 && states.ContainsKey(folder))
        {
            states[folder] = await FetchRemoteStateAsync(_ctx.Metadata, folder, _ctx.ReservedPath, ct).ConfigureAwait(false);
        }

        return states;
    }

    /// <summary>The deepest folder path at or above every one of <paramref name="paths"/> (empty: the folder's root).</summary>
    internal static string CommonFolder(IReadOnlyList<string> paths)
    {
        var common = paths.Count == 0 ? string.Empty : paths[0];
        foreach (var path in paths)
        {
            while (common.Length > 0 && !(path == common || (path.StartsWith(common, StringComparison.Ordinal) && path[common.Length] == '/')))
            {
                var slash = common.LastIndexOf('/');
                common = slash > 0 ? common[..slash] : string.Empty;
            }
        }

        return common;
    }

    /// <summary>
    /// What is here at the path and each folder above it, as far as it differs from the db (changed entries, synced ones
    /// no longer found): a lookup backed off while this stays the same; once it changes (the user renamed the obstacle
    /// away), the lookup is made at once.
    /// </summary>
    private static string WhatIsHere(string path, Dictionary<string, BaseStat> index, LocalSnapshot snapshot, Dictionary<string, (long Size, long MtimeTicks)> newFiles)
    {
        var state = new System.Text.StringBuilder();
        for (var p = path; p.Length > 0; p = p.LastIndexOf('/') is var slash and > 0 ? p[..slash] : string.Empty)
        {
            if (snapshot.Ignore.IsIgnored(p, isDirectory: false) || snapshot.Ignore.IsIgnored(p, isDirectory: true))
            {
                state.Append(p).Append("|ignored/");
            }

            if (snapshot.Entries.TryGetValue(p, out var e))
            {
                state.Append(System.Globalization.CultureInfo.InvariantCulture, $"{p}|{e.Kind}|{e.Size}|{e.MtimeTicks}/");
            }
            else if (newFiles.TryGetValue(p, out var n))
            {
                state.Append(System.Globalization.CultureInfo.InvariantCulture, $"{p}|new|{n.Size}|{n.MtimeTicks}/");
            }
            else if (index.TryGetValue(p, out var stat) && !stat.Clean)
            {
                state.Append(p).Append("|gone/");
            }
            else if (snapshot.IsWithheld(p))
            {
                state.Append(p).Append("|withheld/");
            }
        }

        return state.ToString();
    }

    /// <summary>Stores which withheld paths still wait for a remote change to be applied; returns them.</summary>
    public IReadOnlySet<string> RememberWithheld(HashSet<string> stored, HashSet<string> keep, HashSet<string> injected, List<SyncAction> plan, SyncSummary summary)
    {
        var pending = keep;
        if (_listed.Count > 0)
        {
            injected = [.. injected, .. _listed]; // a full listing's remembered paths were decided as looked-up ones are
        }

        var skippedAgain = new HashSet<string>(StringComparer.Ordinal);
        foreach (var action in plan)
        {
            // A withheld path's skipped remote change, a remote change skipped at or under a kind clash (the cursor moves
            // past it too, and after the user renames one side it must still be applied), or a looked-up change that
            // had to wait (a file still changing).
            // A remote change to a file that could not be read waits with it (the cursor moves on).
            var unreadable = action.Kind == SyncActionKind.Wait && action.Reason == SyncPlanner.UnreadableReason;
            if ((action.Kind == SyncActionKind.Skip && (action.Reason == SyncPlanner.WithheldReason || injected.Contains(action.Path)
                || (action.Remote is not null && action.Reason is SyncPlanner.KindClashReason or SyncPlanner.UnderKindClashReason or SyncPlanner.FolderWaitsReason)))
                || (action.Kind == SyncActionKind.Wait && injected.Contains(action.Path))
                || (unreadable && action.Remote is not null))
            {
                pending.Add(action.Path);
                if (injected.Contains(action.Path) && ((action.Kind == SyncActionKind.Skip && action.Reason != SyncPlanner.ChangingReason) || unreadable))
                {
                    skippedAgain.Add(action.Path);
                }
            }
        }

        // A looked-up change skipped again waits longer each time before the next lookup (one call a path a pass, for
        // good, otherwise); one that waits for a file still changing is looked up again at once.
        foreach (var path in injected)
        {
            if (!skippedAgain.Contains(path))
            {
                _lookupBackoff.Remove(path);
            }
        }

        foreach (var path in skippedAgain)
        {
            if (_fromBackoff.Contains(path) || !_lookedUpHere.TryGetValue(path, out var looked))
            {
                continue; // decided again from its back-off record: that record stands
            }

            var misses = _lookupBackoff.TryGetValue(path, out var b) ? b.Misses + 1 : 1;
            _lookupBackoff[path] = (misses, _withheldPasses + Math.Min(1L << Math.Min(misses, 30), MaxLookupBackoff), looked.Here, looked.Entry);
        }

        foreach (var path in _lookupBackoff.Keys.Where(p => !pending.Contains(p)).ToList())
        {
            _lookupBackoff.Remove(path);
        }

        if (summary.Errors > 0)
        {
            pending.UnionWith(stored); // a failed step may have been one of them: look again
        }

        if (!pending.SetEquals(stored))
        {
            _ctx.Db.SetWithheld(pending);
        }

        return pending;
    }

    /// <summary>
    /// The current remote state of one path (deleted included): the newest of its versions, one call whatever the
    /// folder around it holds. Null when the server knows no version of it, or sends an entry the client refuses
    /// (checked as the feed's entries are: bounds, the state directory, the folder marker).
    /// </summary>
    internal static async Task<RemoteEntry?> FetchRemoteStateAsync(IMetadataRemote metadata, string path, string? reserved, CancellationToken ct)
    {
        ListVersionsResponse versions;
        try
        {
            versions = await metadata.ListVersionsAsync(new ListVersionsRequest { Path = path }, ct).ConfigureAwait(false);
        }
        catch (Dropbox.Shared.Errors.DropboxException e) when (e.Kind == Dropbox.Shared.Errors.ErrorKind.NotFound)
        {
            return null;
        }

        if (versions.Versions.Count == 0)
        {
            return null;
        }

        var newest = versions.Versions.MaxBy(v => v.Version)!;
        if (newest.Path != path)
        {
            return null; // not the path asked about: a server that answers for another is not believed
        }

        return Believed(newest, reserved);
    }

    /// <summary>A path's state as the server sent it, null where the client refuses the entry (checked as the feed's entries are: bounds, the state directory, the folder marker).</summary>
    private static RemoteEntry? Believed(FileEntry entry, string? reserved) =>
        RemoteChanges.WhyRefused(entry, reserved, live: !entry.Deleted) is null ? RemoteEntry.From(entry, entry.Deleted, entry.Version) : null;
}
