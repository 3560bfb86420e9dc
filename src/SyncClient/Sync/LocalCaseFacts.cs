using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Reads what the rule for a local name that clashes in case needs (<see cref="LocalCaseClash"/>): whether it follows
/// the server, whether it is being written (a file's stat, a folder's walk), what the server holds under it, and which
/// name is free. It renames nothing and records nothing of the sync: the rule decides (<see cref="LocalCaseRules"/>) and
/// <see cref="CaseConflicts"/> acts. Its one memory is the folder backoff's (<see cref="UncheckedFolderBackoff"/>), of the
/// walks it made. One per resolve: the pass's folder walks share <paramref name="budget"/>.
/// </summary>
internal sealed class LocalCaseFacts(SyncContext ctx, Stability stability, FolderWalkBudget budget, Dictionary<string, BaseStat> index, RemoteView remote,
    IReadOnlySet<string> scanLosers, IReadOnlySet<string> refusedOnServer, Action<string>? afterFolderWalk)
{
    private HashSet<string>? _takenFolds; // built on the first name search only (the index is large)

    /// <summary>
    /// The facts of every clash of <paramref name="clashes"/>, in order, all read before any is acted on (the rule
    /// decides them at once, <see cref="LocalCaseRules.DecideAll"/>): the free names on disk are those before any rename
    /// of the pass, so each clash gets one more free name for each clash before it whose path is the same in any case
    /// (only such a clash's pick can be one of its names, <c>stem (Case Conflict N).ext</c> in the same folder: so a pass
    /// of many clashes still searches about one name each). What a rename must see fresh (a file's stat, a walked
    /// folder's changes, whether it is still here and its new name still free) is looked at again right before it
    /// (<see cref="CannotRenameNow"/>, <see cref="SettlesInNow"/>, <see cref="LocalCaseRules.Recheck"/>).
    /// </summary>
    /// <param name="clashes">The names to read, in the order they are acted on.</param>
    /// <param name="ct">The pass's token.</param>
    /// <param name="readBefore">Clashes of the pass read earlier (and decided with these): they count as before each.</param>
    public List<LocalCaseClash> ReadAll(IReadOnlyList<(string Path, bool IsDirectory)> clashes, CancellationToken ct, IReadOnlyList<LocalCaseClash>? readBefore = null)
    {
        var facts = new List<LocalCaseClash>(clashes.Count);
        var before = new Dictionary<string, int>(StringComparer.Ordinal); // clashes read so far, by case-folded path
        foreach (var earlier in readBefore ?? [])
        {
            var fold = SyncPaths.CaseFoldKey(earlier.Path);
            before[fold] = before.GetValueOrDefault(fold) + 1;
        }

        foreach (var (path, isDirectory) in clashes)
        {
            var fold = SyncPaths.CaseFoldKey(path);
            before.TryGetValue(fold, out var same);
            facts.Add(Read(path, isDirectory, ct, moreFreeNames: same));
            before[fold] = same + 1;
        }

        return facts;
    }

    /// <summary>
    /// The facts of <paramref name="path"/>, read now (a write since the scan counts), with <paramref name="moreFreeNames"/>
    /// free names after the first. The folder walk comes first and the look for changes since the walk last, so the walk's
    /// window spans the name search.
    /// </summary>
    public LocalCaseClash Read(string path, bool isDirectory, CancellationToken ct, int moreFreeNames = 0)
    {
        var loser = scanLosers.Contains(path);
        var clash = new LocalCaseClash(path, isDirectory)
        {
            Synced = index.TryGetValue(path, out var synced) ? synced : null,
            FollowsServer = !isDirectory && loser ? CaseClashLoser.FollowsServer(index, remote.Changes, path, ctx.FullPath(path), ctx.HoldsExecutableBit) : null,
            RefusedBefore = refusedOnServer.Contains(path),
        };
        if (clash.FollowsServer is not null)
        {
            return clash; // given back to the plan: nothing else about it counts
        }

        var visited = new List<FolderStamp>();
        clash = isDirectory ? WalkFolder(clash, visited, ct) : clash with { SettlesIn = SettlesInNow(path) };
        // Read for a name that waits too: the wait of a rename that follows the server's keeps that move (the rule's
        // outcome says so, and the executor remembers it: the next pass's listing no longer shows it).
        var movedAway = MovedAwayTo(path, index, remote.Changes);
        clash = clash with { MovedAwayTo = movedAway, MovedAwayTaken = movedAway is not null && ExistsHere(movedAway) };
        if (LocalCaseRules.WaitsToRename(clash))
        {
            return clash; // it waits whatever else is found: nothing more is read (the name search walks the folder's names)
        }

        if (isDirectory)
        {
            afterFolderWalk?.Invoke(path);
        }

        clash = clash with
        {
            OnServer = loser ? LiveOnServer(path, index, remote.Changes) : [],
            SyncedUnder = loser || movedAway is not null ? [.. index.Keys.Where(p => Under(p, path)).Order(StringComparer.Ordinal)] : [],
            Scanned = isDirectory ? null : ScannedNow(path, clash.SettlesIn),
        };

        var (free, more) = FreeNames(path, moreFreeNames);
        clash = clash with { FreeName = free, MoreFreeNames = more };

        return isDirectory && visited.Count > 0 ? clash with { ChangedSinceWalk = stability.FolderChangedSinceWalk(visited), Walked = visited } : clash;
    }

    /// <summary>
    /// The first free <c>(Case Conflict N)</c> name for <paramref name="path"/> and <paramref name="more"/> after it. A name
    /// that differs only in case from one here or on the server counts as taken: taken, it would clash again. Searched
    /// even where the server's name is followed: another clash of the pass may be renamed to that name.
    /// </summary>
    private (string? First, IReadOnlyList<string> More) FreeNames(string path, int more)
    {
        _takenFolds ??= TakenFolds(index, remote);
        var taken = _takenFolds;
        var found = new List<string>();
        var foundFolds = new HashSet<string>(StringComparer.Ordinal);
        for (var n = 0; n <= more; n++)
        {
            if (CaseConflicts.FreeCaseConflictName(path, p => foundFolds.Contains(SyncPaths.CaseFoldKey(p)) || index.ContainsKey(p)
                || remote.Changes.ContainsKey(p) || taken.Contains(SyncPaths.CaseFoldKey(p)) || ExistsInAnyCase(ctx, p)) is not { } free)
            {
                break;
            }

            found.Add(free);
            foundFolds.Add(SyncPaths.CaseFoldKey(free));
        }

        return (found.Count > 0 ? found[0] : null, found.Count > 1 ? found[1..] : []);
    }

    /// <summary>
    /// The folder's walk on disk now (<see cref="Stability.ObserveFolder(string, string, FolderWalkBudget, List{FolderStamp}, CancellationToken)"/>):
    /// the scan's entries would miss what it ignores (a download's <c>.part</c> file) and the inside of a folder that lost
    /// a clash in the scan (not entered). A folder the walk could not look at whole lately is not walked again before its
    /// backoff ends (whatever woke this pass): the walk would read up to its bound again and most likely find the same.
    /// The backoff learns what the walk found.
    /// </summary>
    private LocalCaseClash WalkFolder(LocalCaseClash clash, List<FolderStamp> visited, CancellationToken ct)
    {
        var (path, backoff) = (clash.Path, ctx.UncheckedFolders);
        if (backoff.WaitLeft(path, ctx.Time) is { } left)
        {
            return clash with { BackoffLeft = left };
        }

        var observed = stability.ObserveFolder(ctx.FullPath(path), path, budget, visited, ct);
        if (observed.Unchecked is null)
        {
            backoff.Forget(path);
            return clash with { Walk = observed };
        }

        // A read error (a subfolder gone during the walk: a tree being moved) may not be met again: looked at again soon,
        // a few times, then backing off.
        return clash with
        {
            Walk = observed,
            Recheck = observed.OverBound ? backoff.Missed(path, ctx.Time) : backoff.ReadError(path, ctx.Time, Stability.MinFolderSettleAge),
        };
    }

    /// <summary>
    /// The stability observation of the file at <paramref name="path"/> (see <see cref="Stability"/>), taken now from its
    /// stat: with the facts, and again right before its rename: the scan's may be stale (a write since the scan would be
    /// split by the rename). Null: settled, found exactly as synced (<see cref="CaseClashLoser.IsAsSynced"/>), or gone
    /// meanwhile (the rename then says so).
    /// </summary>
    public TimeSpan? SettlesInNow(string path) => SettlesInNow(ctx, stability, path, index.TryGetValue(path, out var synced) ? synced : null);

    /// <summary>As <see cref="SettlesInNow(string)"/>, with the path's synced row as read with the facts (<paramref name="synced"/>): the executor's look right before the rename.</summary>
    internal static TimeSpan? SettlesInNow(SyncContext ctx, Stability stability, string path, BaseStat? synced)
    {
        var fullPath = ctx.FullPath(path);
        var info = new FileInfo(fullPath);
        return info.Exists && !(synced is { } row && CaseClashLoser.IsAsSynced(row, path, fullPath, ctx.HoldsExecutableBit)) ? stability.SettlesIn(path, info.LastWriteTimeUtc.Ticks) : null;
    }

    /// <summary>The file's entry from its stat now (as the renamed file's was read after its rename before); null when gone.</summary>
    private LocalEntry? ScannedNow(string path, TimeSpan? settlesIn)
    {
        var info = new FileInfo(ctx.FullPath(path));
        return info.Exists ? new LocalEntry(path, FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks, settlesIn) : null;
    }

    private bool ExistsHere(string path) => ExistsHere(ctx, path);

    /// <summary>True when anything is at <paramref name="path"/> here, by its exact name (one stat).</summary>
    private static bool ExistsHere(SyncContext ctx, string path) => Path.Exists(ctx.FullPath(path));

    /// <summary>
    /// Looked at right before a rename (before the server's): why <paramref name="outcome"/> cannot be renamed now, or
    /// null. Gone here since its facts were read (deleted or moved away: renaming it on the server would undo that, the
    /// server's copy coming back under the new name), or its picked name made here since (the server would move it there
    /// and the move here would fail). Either way it is left alone a pass, so nothing goes to the server: the next pass's
    /// scan sees the delete as any, or picks another free name. The picked name is tested as the facts tested it, so only
    /// a change since counts: a name the server already chose (followed) by its exact name (<see cref="LocalCaseClash.MovedAwayTaken"/>),
    /// a free name in any case (the name search). A followed name found here in another case before the pass is no change:
    /// tested in any case it was left alone with a false note, then renamed here alone to another name: its content twice.
    /// </summary>
    public string? CannotRenameNow(LocalCaseOutcome outcome) => CannotRenameNow(ctx, outcome);

    /// <summary>As <see cref="CannotRenameNow(LocalCaseOutcome)"/>: the executor's look right before the rename.</summary>
    internal static string? CannotRenameNow(SyncContext ctx, LocalCaseOutcome outcome)
    {
        var fullPath = ctx.FullPath(outcome.Path);
        if (outcome.IsDirectory ? !Directory.Exists(fullPath) : !File.Exists(fullPath))
        {
            return "it is no longer here";
        }

        var target = outcome.Target!;
        return (outcome.Followed ? ExistsHere(ctx, target) : ExistsInAnyCase(ctx, target)) ? $"'{target}' was made here meanwhile" : null;
    }

    /// <summary>The live server entries at or under <paramref name="path"/> as this pass sees the server, each with the version seen, parents first.</summary>
    internal static List<(string Path, ulong Version)> LiveOnServer(string path, Dictionary<string, BaseStat> index, IReadOnlyDictionary<string, RemoteEntry> remote)
    {
        var live = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var (p, stat) in index)
        {
            if (Under(p, path) && !remote.ContainsKey(p))
            {
                live[p] = stat.Version;
            }
        }

        foreach (var (p, entry) in remote)
        {
            if (Under(p, path) && !entry.Deleted)
            {
                live[p] = entry.Version;
            }
        }

        return [.. live.OrderBy(e => e.Key.Length).ThenBy(e => e.Key, StringComparer.Ordinal).Select(e => (e.Key, e.Value))];
    }

    /// <summary>
    /// The "(Case Conflict)" name the server moved what was synced at or under <paramref name="path"/> to, as this pass
    /// lists it (the first such move in ordinal order); null when none was. Only a name the rename of this very path
    /// picks (<see cref="IsCaseConflictNameOf"/>): a sibling of another name that carries the marker (another clash's
    /// resolution, or an odd listing) is where that path went, not a name this one follows.
    /// </summary>
    internal static string? MovedAwayTo(string path, Dictionary<string, BaseStat> index, IReadOnlyDictionary<string, RemoteEntry> remote)
    {
        foreach (var p in index.Keys.Where(p => Under(p, path)).Order(StringComparer.Ordinal))
        {
            if (remote.TryGetValue(p, out var entry) && entry.MovedTo is { } to && to.EndsWith(p[path.Length..], StringComparison.Ordinal)
                && to[..^(p.Length - path.Length)] is var prefix && IsCaseConflictNameOf(prefix, path))
            {
                return prefix;
            }
        }

        return null;
    }

    /// <summary>
    /// True when <paramref name="name"/> is one of the names <see cref="CaseConflicts.FreeCaseConflictName"/> picks for
    /// <paramref name="path"/>: in its folder, <c>stem (Case Conflict).ext</c> or <c>stem (Case Conflict N).ext</c>.
    /// </summary>
    internal static bool IsCaseConflictNameOf(string name, string path)
    {
        var (head, extension) = CaseConflicts.CaseConflictNameParts(path);
        if (name.Length < head.Length + 1 + extension.Length || !name.StartsWith(head, StringComparison.Ordinal) || !name.EndsWith(")" + extension, StringComparison.Ordinal))
        {
            return false;
        }

        var n = name[head.Length..^(1 + extension.Length)];
        return n.Length == 0 || (n.Length > 1 && n[0] == ' ' && n[1] != '0' && n[1..].All(char.IsAsciiDigit));
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

    /// <summary>
    /// True when the folder of <paramref name="relative"/> holds its name in any case, its own included (one listing of
    /// the folder, no stat of the name besides); where the folder cannot be listed, whether the exact name is there.
    /// </summary>
    private static bool ExistsInAnyCase(SyncContext ctx, string relative)
    {
        var parent = ctx.FullPath(SyncPaths.Parent(relative));
        var key = SyncPaths.CaseFoldKey(relative[(relative.LastIndexOf('/') + 1)..]);
        try
        {
            return Directory.Exists(parent) && Directory.EnumerateFileSystemEntries(parent).Any(e => SyncPaths.CaseFoldKey(Path.GetFileName(e)) == key);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ExistsHere(ctx, relative);
        }
    }

    internal static bool Under(string path, string folder) =>
        path.Length >= folder.Length && path.StartsWith(folder, StringComparison.Ordinal) && (path.Length == folder.Length || path[folder.Length] == '/');
}
