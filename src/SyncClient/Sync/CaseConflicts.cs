using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Names that differ only in case. A case-insensitive device (macOS, Windows) can hold only one of them, so, as
/// Dropbox does, both are kept under names that do not clash: one is renamed here to <c>name (Case Conflict).ext</c>,
/// which syncs like any file. Nothing stays withheld, so no edit to either stays on this disk. The name synced first
/// keeps it (see <see cref="LocalScanner"/>): a long-synced file never loses its name to a newcomer.
/// One per engine: the names the server refused (<see cref="_caseConflictNamesTaken"/>) are remembered across its passes.
/// The engine's pass calls it with what it found (snapshot, index, remote view); it changes the snapshot (renamed names,
/// withheld ones), adds notes to the summary and returns the planner's waits for names still being written.
/// </summary>
internal sealed class CaseConflicts
{
    private readonly SyncContext _ctx;

    public CaseConflicts(SyncContext ctx)
    {
        _ctx = ctx;
    }

    /// <summary>Tests: runs with the path of a clashing folder once its walk found it settled, before its rename.</summary>
    internal Action<string>? AfterFolderWalk { get; set; }

    /// <summary>The marker a renamed name carries.</summary>
    internal const string CaseConflictMarker = " (Case Conflict";

    /// <summary>
    /// Most names one pass tries for one new remote file the server refuses to rename because the name exists there.
    /// The names refused are remembered in memory only, so a <c>sync --once</c> run starts again from the first free
    /// one: this is enough to get past a run of "(Case Conflict N)" names the server holds for paths this pass does not
    /// (ignored here) in one pass, and small enough that a server refusing every name costs a bounded number of calls.
    /// </summary>
    internal const int MaxCaseConflictMoves = 32;

    /// <summary>Most names remembered in <see cref="_caseConflictNamesTaken"/>; past it the memory starts again.</summary>
    private const int MaxCaseConflictNamesTaken = 1_000;

    /// <summary>
    /// "(Case Conflict)" names the server refused as existing (a path not synced here: ignored here, or new there since
    /// the listing), so the next try, in this pass or a later one, picks the next free name.
    /// </summary>
    private readonly HashSet<string> _caseConflictNamesTaken = new(StringComparer.Ordinal);

    /// <summary>
    /// The synced version of a tracked path (null: untracked): which of two names differing in case keeps its name (see
    /// <see cref="LocalScanner"/>). A folder counts as tracked when anything under it is synced (most folders have no
    /// entry of their own), with the lowest version under it: a long-synced folder never loses its name to a newcomer.
    /// </summary>
    internal static Func<string, ulong?> SyncedVersionOf(Dictionary<string, BaseStat> index)
    {
        Dictionary<string, ulong>? lowest = null; // built on the first clash only (a clash is rare; the index is large)
        return path =>
        {
            if (index.TryGetValue(path, out var stat) && stat.Kind == FileKind.File)
            {
                return stat.Version;
            }

            lowest ??= LowestVersionUnder(index);
            return lowest.TryGetValue(path, out var version) ? version : null;
        };
    }

    /// <summary>For each synced path and each folder above one: the lowest synced version at or under it.</summary>
    private static Dictionary<string, ulong> LowestVersionUnder(Dictionary<string, BaseStat> index)
    {
        var lowest = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var (path, stat) in index)
        {
            for (var end = path.Length; end > 0; end = path.LastIndexOf('/', end - 1))
            {
                var at = path[..end];
                if (lowest.TryGetValue(at, out var seen) && seen <= stat.Version)
                {
                    break; // this folder and every one above it already hold a version at most this one
                }

                lowest[at] = stat.Version;
            }
        }

        return lowest;
    }

    /// <summary>
    /// On a folder that folds case: a new remote file (never synced here) whose name, or a folder above it, differs only
    /// in case from a name here (synced, scanned, new or withheld) or from another new remote name of this pass (the
    /// first in ordinal order keeps its name) would land on that other file or folder. Where the other name goes away
    /// this pass (deleted or moved on the server), the newcomer waits one pass (withheld) and is then taken. Otherwise,
    /// as Dropbox does, the newcomer is renamed ON THE SERVER to its "(Case Conflict)" name (its clashing part, with
    /// the version seen, so a concurrent change wins and the rename is tried again next pass) and is downloaded under
    /// that name by the next pass: it never stays withheld, and never lands on the other file. A name taken here, in
    /// this pass's remote view (in any case) or, as the server answered, on the server is never picked.
    /// Without <paramref name="renameOnServer"/> (the probe could not tell whether the folder folds case), a clashing
    /// newcomer is only held back: withheld (remembered, see <see cref="WithheldPaths"/>, so the cursor moving on does
    /// not lose it) until a pass whose probe answers takes it (downloaded beside the other name, or renamed).
    /// </summary>
    public async Task ResolveNewRemoteFilesAsync(LocalSnapshot snapshot, Dictionary<string, BaseStat> index, NewFiles newFiles, RemoteView remote, SyncSummary summary, bool renameOnServer, CancellationToken ct)
    {
        List<string>? candidates = null;
        foreach (var (path, entry) in remote.Changes)
        {
            if (entry is { Kind: FileKind.File, Deleted: false } && !index.ContainsKey(path) && !snapshot.Entries.ContainsKey(path))
            {
                (candidates ??= []).Add(path);
            }
        }

        if (candidates is null)
        {
            return;
        }

        candidates.Sort(StringComparer.Ordinal);

        // Every name here and every folder above one, exactly, and by case-folded key the exact name that holds it.
        var exact = new HashSet<string>(StringComparer.Ordinal);
        var folded = new Dictionary<string, string>(StringComparer.Ordinal);
        void AddName(string path)
        {
            for (var end = path.Length; end > 0 && exact.Add(path[..end]); end = path.LastIndexOf('/', end - 1))
            {
                folded.TryAdd(SyncPaths.CaseFoldKey(path[..end]), path[..end]);
            }
        }

        foreach (var path in index.Keys.Concat(snapshot.Entries.Keys).Concat(snapshot.Withheld).Concat(newFiles.ByPath().Keys).Order(StringComparer.Ordinal))
        {
            AddName(path);
        }

        Dictionary<string, string>? remoteFolds = null; // made at the first rename (a clash is rare; the view is large)
        foreach (var path in candidates)
        {
            string? clash = null, other = null;
            for (var end = path.Length; end > 0; end = path.LastIndexOf('/', end - 1))
            {
                var name = path[..end];
                if (!exact.Contains(name) && folded.TryGetValue(SyncPaths.CaseFoldKey(name), out var holder))
                {
                    (clash, other) = (name, holder); // the outermost clashing part wins: it is renamed whole
                }
            }

            if (clash is null)
            {
                AddName(path); // taken this pass: a later new name of another case clashes with it
                continue;
            }

            snapshot.Withheld.Add(path);
            if (index.ContainsKey(other!) && remote.Changes.TryGetValue(other!, out var gone) && gone.Deleted)
            {
                // The other name goes this pass: the newcomer is taken at the next, under its own name.
                summary.AddPending();
                summary.RecheckWithin(TimeSpan.Zero);
                summary.AddNote($"case conflict: new remote file '{SyncPaths.Display(path)}' differs only in case from '{SyncPaths.Display(other!)}', which goes this pass; it is taken at the next");
                continue;
            }

            if (!renameOnServer)
            {
                // Renamed on the server, it would be renamed for every device although this folder may well keep both
                // names (a case-sensitive APFS volume); downloaded, it might land on the other name. Neither until the
                // probe answers: it is asked again each pass.
                AddName(path);
                summary.AddPending();
                summary.AddNote($"case conflict: new remote file '{SyncPaths.Display(path)}' differs only in case from '{SyncPaths.Display(other!)}' here, and whether this folder tells them apart could not be probed; it is held back (not downloaded, not renamed) until it can");
                continue;
            }

            remoteFolds ??= SyncPlanner.RemoteFolds(remote.Changes) ?? new Dictionary<string, string>(StringComparer.Ordinal);
            var target = path;
            for (var attempt = 1; ; attempt++)
            {
                var renamed = CaseConflictName(clash, p => exact.Contains(p) || folded.ContainsKey(SyncPaths.CaseFoldKey(p)) || remote.Changes.ContainsKey(p)
                    || remoteFolds.ContainsKey(SyncPaths.CaseFoldKey(p)) || _caseConflictNamesTaken.Contains(p));
                target = renamed + path[clash.Length..];
                try
                {
                    await _ctx.Metadata.MoveFileAsync(new MoveFileRequest { FromPath = path, ToPath = target, BaseVersion = remote.Changes[path].Version, Device = _ctx.Device }, ct).ConfigureAwait(false);
                    summary.AddNote($"case conflict: new remote file '{SyncPaths.Display(path)}' differs only in case from '{SyncPaths.Display(other!)}' here; it was renamed to '{SyncPaths.Display(target)}' on the server and is downloaded under that name");
                    break;
                }
                catch (DropboxException e)
                {
                    if (e.Kind == ErrorKind.AlreadyExists)
                    {
                        // The name is taken on the server by a path this pass does not hold (ignored here, or new there
                        // since the listing): never picked again by this engine; the next free one is tried.
                        if (_caseConflictNamesTaken.Count >= MaxCaseConflictNamesTaken)
                        {
                            _caseConflictNamesTaken.Clear();
                        }

                        _caseConflictNamesTaken.Add(renamed);
                        if (attempt < MaxCaseConflictMoves)
                        {
                            continue;
                        }
                    }

                    // Changed or renamed meanwhile (by its device, or by another that folds case): looked at again next pass.
                    summary.AddNote($"case conflict: new remote file '{SyncPaths.Display(path)}' could not be renamed on the server ({e.Message}); tried again next pass");
                    break;
                }
            }

            AddName(target);
            summary.AddPending();
            summary.RecheckWithin(TimeSpan.Zero);
        }
    }

    /// <summary>
    /// After the withheld lookup: the entries it added to <paramref name="remote"/> (<paramref name="injected"/>) were
    /// unknown when the scan queued new files and <see cref="Resolve"/> ran, so a new local name that
    /// differs only in case from one of them (or lies under a folder that does) is taken back from the new files and
    /// renamed as any other case clash, rather than uploaded beside the looked-up path.
    /// </summary>
    public List<SyncAction> ResolveWithLookedUp(LocalSnapshot snapshot, Dictionary<string, BaseStat> index, RemoteView remote, HashSet<string> injected, NewFiles newFiles, SyncSummary summary, FolderWalkBudget budget, CancellationToken ct)
    {
        if (injected.Count == 0)
        {
            return [];
        }

        var folds = SyncPlanner.RemoteFolds(injected.Where(remote.Changes.ContainsKey).Select(p => KeyValuePair.Create(p, remote.Changes[p])));
        if (folds is null)
        {
            return [];
        }

        foreach (var path in newFiles.ByPath().Keys)
        {
            if (SyncPlanner.ClashesRemotely(folds, index, remote.Changes, path) && newFiles.TryTakeBack(path, out var local))
            {
                snapshot.Entries[path] = local;
            }
        }

        return Resolve(snapshot, index, remote, folds, summary, budget, ct, withScanLosers: false);
    }

    /// <summary>
    /// Renames each local name that clashes in case (with another here, or with a live remote path it would be
    /// created beside) to a <c>(Case Conflict)</c> name and takes it under that name in this pass, unless the planner says
    /// it waits (<see cref="SyncPlanner.WaitToRename(string, bool, TimeSpan?)"/> for a file, over a stability observation
    /// made right before the rename; for a folder, over a walk of it on disk, see <see cref="FolderWaitsToRename"/>): then
    /// it is withheld and its wait is returned, for the plan.
    /// </summary>
    public List<SyncAction> Resolve(LocalSnapshot snapshot, Dictionary<string, BaseStat> index, RemoteView remote, Dictionary<string, string>? folds, SyncSummary summary, FolderWalkBudget budget, CancellationToken ct, bool withScanLosers = true)
    {
        var waits = new List<SyncAction>();
        var renames = withScanLosers ? new List<(string Path, bool IsDirectory)>(snapshot.CaseClashLosers) : [];
        if (folds is not null)
        {
            var folders = new HashSet<string>(StringComparer.Ordinal);
            foreach (var entry in snapshot.Entries.Values)
            {
                // Under a new local folder that differs only in case from a remote one: the folder is renamed (once),
                // unless something under it is synced (then it is not new here, and stays as it is).
                if (SyncPlanner.ClashingFolder(folds, index, entry.Path) is { } folder)
                {
                    if (folders.Add(folder))
                    {
                        renames.Add((folder, true));
                    }

                    continue;
                }

                // Files only: a folder's contents are already in this pass under its old name. A synced file unchanged
                // here follows the remote (deleted, or renamed locally by a remote move).
                if (entry.Kind == FileKind.File && SyncPlanner.ClashesRemotely(folds, index, remote.Changes, entry.Path)
                    && !(index.TryGetValue(entry.Path, out var stat) && stat.Kind == entry.Kind && FileStamp.Of(stat) == FileStamp.Of(entry)))
                {
                    renames.Add((entry.Path, entry.Kind == FileKind.Folder));
                }
            }
        }

        var stability = _ctx.Stability();
        HashSet<string>? takenFolds = null;
        foreach (var (path, isDirectory) in renames)
        {
            var visited = new List<FolderStamp>();
            if ((isDirectory ? FolderWaitsToRename(path, stability, budget, visited, ct) : SyncPlanner.WaitToRename(path, isDirectory: false, FileSettlesIn(path, stability))) is { } wait)
            {
                Withhold(path, isDirectory, wait);
                continue;
            }

            if (isDirectory)
            {
                AfterFolderWalk?.Invoke(path);
            }

            // A name that differs only in case from one here or on the server counts as taken: taken, it would clash again.
            takenFolds ??= TakenFolds(index, remote);
            var target = CaseConflictName(path, p => File.Exists(_ctx.FullPath(p)) || Directory.Exists(_ctx.FullPath(p)) || index.ContainsKey(p) || remote.Changes.ContainsKey(p)
                || takenFolds.Contains(SyncPaths.CaseFoldKey(p)) || ExistsInAnyCase(p));

            // Right before the move: a name made or removed in any folder the walk read, since it read it (the walk is no
            // snapshot), means the tree is being written: it waits, as if the walk had seen it.
            if (isDirectory && stability.FolderChangedSinceWalk(visited) is { } changed)
            {
                _ctx.Progress.Log($"case conflict: folder '{path}' is not renamed this pass: a folder in it changed since it was looked at");
                Withhold(path, isDirectory, SyncPlanner.WaitToRename(path, isDirectory: true, changed)!);
                continue;
            }

            _ctx.Step?.Invoke($"before case-conflict rename {path} -> {target}");
            try
            {
                if (isDirectory)
                {
                    Directory.Move(_ctx.FullPath(path), _ctx.FullPath(target));
                }
                else
                {
                    File.Move(_ctx.FullPath(path), _ctx.FullPath(target), overwrite: false);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                summary.AddNote($"case conflict: could not rename '{path}' to '{target}' ({e.Message}); it is left alone until one of the names is changed");
                snapshot.Withheld.Add(path);
                snapshot.Entries.Remove(path);
                continue;
            }

            _ctx.Step?.Invoke($"after case-conflict rename {path} -> {target}");
            var note = $"case conflict: '{path}' differs only in case from another name; renamed to '{target}' so both sync";
            summary.AddNote(note);
            _ctx.Progress.Log(note);
            if (isDirectory)
            {
                // Nothing under the old name is taken this pass (the next pass takes the renamed folder as new).
                foreach (var under in snapshot.Entries.Keys.Where(k => k == path || k.StartsWith(path + "/", StringComparison.Ordinal)).ToList())
                {
                    snapshot.Entries.Remove(under);
                }

                snapshot.EmptyFolders.RemoveWhere(k => k == path || k.StartsWith(path + "/", StringComparison.Ordinal));
                snapshot.Withheld.Add(path);
                continue;
            }

            if (snapshot.Entries.Remove(path, out var entry))
            {
                snapshot.Entries[target] = entry with { Path = target };
            }
            else if (!isDirectory)
            {
                snapshot.Withheld.Remove(path);
                var info = new FileInfo(_ctx.FullPath(target));
                snapshot.Entries[target] = new LocalEntry(target, FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks, stability.SettlesIn(target, info.LastWriteTimeUtc.Ticks));
            }

            // A folder's contents were not scanned under either name: the old name stays withheld (nothing under it
            // is deleted anywhere) and the next pass takes the renamed folder, its files matched to the synced ones
            // by content.
        }

        return waits;

        // Withheld (nothing of it uploaded, deleted or downloaded over) until it settles; the plan reports the wait and
        // the daemon comes back for it then. A folder: nothing under it is taken either.
        void Withhold(string path, bool isDirectory, SyncAction wait)
        {
            waits.Add(wait);
            if (isDirectory)
            {
                foreach (var under in snapshot.Entries.Keys.Where(k => k == path || k.StartsWith(path + "/", StringComparison.Ordinal)).ToList())
                {
                    snapshot.Entries.Remove(under);
                }

                snapshot.EmptyFolders.RemoveWhere(k => k == path || k.StartsWith(path + "/", StringComparison.Ordinal));
            }

            snapshot.Withheld.Add(path);
            snapshot.Entries.Remove(path);
        }
    }

    /// <summary>
    /// The stability observation of the file at <paramref name="path"/> (see <see cref="Stability"/>), taken now from its
    /// stat, right before its rename: the scan's may be stale (a write since the scan would be split by the rename). Null:
    /// settled, or gone meanwhile (the rename then says so).
    /// </summary>
    private TimeSpan? FileSettlesIn(string path, Stability stability)
    {
        var info = new FileInfo(_ctx.FullPath(path));
        return info.Exists ? stability.SettlesIn(path, info.LastWriteTimeUtc.Ticks) : null;
    }

    /// <summary>
    /// The planner's word on renaming the folder at <paramref name="path"/> now, over a walk of it on disk made right
    /// before the rename (<see cref="Stability.ObserveFolder(string, string, CancellationToken)"/>): the scan's entries
    /// would miss what it ignores (a download's <c>.part</c> file) and the inside of a folder that lost a clash in the
    /// scan (not entered), and a rename while either is written splits the tree.
    /// </summary>
    private SyncAction? FolderWaitsToRename(string path, Stability stability, FolderWalkBudget budget, List<FolderStamp> visited, CancellationToken ct)
    {
        // A folder the walk could not look at whole lately is not walked again before its backoff ends (whatever woke
        // this pass): the walk would read up to its bound again and most likely find the same.
        var backoff = _ctx.UncheckedFolders;
        if (backoff.WaitLeft(path, _ctx.Time) is { } left)
        {
            return SyncPlanner.WaitToRename(path, FolderObservation.PastBound("not looked at again yet"), left);
        }

        var observed = stability.ObserveFolder(_ctx.FullPath(path), path, budget, visited, ct);
        if (observed.Unchecked is null)
        {
            backoff.Forget(path);
            return SyncPlanner.WaitToRename(path, observed, UncheckedFolderBackoff.First);
        }

        // A walk that reached its bound backs off: the next would read up to it again. A read error (a subfolder gone
        // during the walk: a tree being moved) may not be met again: looked at again soon, a few times, then backing off.
        var wait = observed.OverBound
            ? SyncPlanner.WaitToRename(path, observed, backoff.Missed(path, _ctx.Time))!
            : SyncPlanner.WaitToRename(path, observed, UncheckedFolderBackoff.First, backoff.ReadError(path, _ctx.Time, Stability.MinFolderSettleAge))!;
        _ctx.Progress.Log($"case conflict: folder '{path}' is not renamed this pass: {observed.Unchecked}; looked at again in {wait.SettlesIn}");
        return wait;
    }

    /// <summary>The case-folded paths synced here or in this pass's remote view.</summary>
    private static HashSet<string> TakenFolds(Dictionary<string, BaseStat> index, RemoteView remote)
    {
        var folds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in index.Keys.Concat(remote.Changes.Keys))
        {
            folds.Add(SyncPaths.CaseFoldKey(path));
        }

        return folds;
    }

    /// <summary>True when the folder of <paramref name="relative"/> holds a name that differs from its own only in case.</summary>
    private bool ExistsInAnyCase(string relative)
    {
        var parent = _ctx.FullPath(SyncPaths.Parent(relative));
        var key = SyncPaths.CaseFoldKey(relative[(relative.LastIndexOf('/') + 1)..]);
        try
        {
            return Directory.Exists(parent) && Directory.EnumerateFileSystemEntries(parent).Any(e => SyncPaths.CaseFoldKey(Path.GetFileName(e)) == key);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary><c>dir/name (Case Conflict).ext</c>, then <c>(Case Conflict 2)</c>... the first <paramref name="isTaken"/> refuses.</summary>
    internal static string CaseConflictName(string path, Func<string, bool> isTaken)
    {
        var slash = path.LastIndexOf('/');
        var directory = slash >= 0 ? path[..(slash + 1)] : string.Empty;
        var name = slash >= 0 ? path[(slash + 1)..] : path;
        var dot = name.LastIndexOf('.');
        var (stem, extension) = dot > 0 ? (name[..dot], name[dot..]) : (name, string.Empty);
        for (var n = 1; n < 10_000; n++)
        {
            var candidate = $"{directory}{stem}{CaseConflictMarker}{(n == 1 ? string.Empty : " " + n.ToString(System.Globalization.CultureInfo.InvariantCulture))}){extension}";
            if (!isTaken(candidate))
            {
                return candidate;
            }
        }

        throw new IOException($"Could not find a free case-conflict name for '{path}' after 10000 tries; rename it by hand.");
    }
}
