using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The rule for local names that clash in case, pure as <see cref="SyncPlanner"/> is: which names lose
/// (<see cref="Clashes"/>), and what becomes of each (<see cref="Decide"/>) over the facts read right before it is acted
/// on (<see cref="LocalCaseFacts"/>). <see cref="CaseConflicts"/> reads the facts of all clashes, the planner asks the rule
/// for all of them at once (<see cref="DecideAll"/>, <see cref="LocalCasePlan"/>), and the executor makes each rename,
/// looked at again right before it (<see cref="Recheck"/>, <see cref="LocalCaseRenames"/>).
/// </summary>
internal static class LocalCaseRules
{
    /// <summary>
    /// The names to resolve, in order: the scan's losers (<paramref name="scanLosers"/>, a clash of two names here), then,
    /// where <paramref name="folds"/> (the case-folded live remote paths) is given, each new local folder that differs
    /// only in case from a remote one (once: what is under it goes with it, unless something under it is synced: then it
    /// is not new here) and each local file that would be created beside a live remote path differing only in case,
    /// unless it is a synced file unchanged here (it follows the remote: deleted, or renamed by a remote move).
    /// </summary>
    public static List<(string Path, bool IsDirectory)> Clashes(IEnumerable<(string Path, bool IsDirectory)> scanLosers, IEnumerable<LocalEntry> entries,
        Dictionary<string, BaseStat> index, IReadOnlyDictionary<string, RemoteEntry> remote, Dictionary<string, string>? folds)
    {
        var renames = new List<(string Path, bool IsDirectory)>(scanLosers);
        if (folds is null)
        {
            return renames;
        }

        var folders = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            if (SyncPlanner.ClashingFolder(folds, index, entry.Path) is { } folder)
            {
                if (folders.Add(folder))
                {
                    renames.Add((folder, true));
                }

                continue;
            }

            // Files only: a folder's contents are already in this pass under its old name.
            if (entry.Kind == FileKind.File && SyncPlanner.ClashesRemotely(folds, index, remote, entry.Path)
                && !(index.TryGetValue(entry.Path, out var stat) && stat.Kind == entry.Kind && FileStamp.Of(stat) == FileStamp.Of(entry)))
            {
                renames.Add((entry.Path, false));
            }
        }

        return renames;
    }

    /// <summary>
    /// What becomes of <paramref name="clash"/>, in this order: a losing file as synced whose server path this pass
    /// deletes or moves follows the server (renamed, it would bring back what another device deleted or renamed); one
    /// still being written, or a folder not seen whole, waits (<see cref="SyncPlanner.WaitToRename(string, bool, TimeSpan?)"/>,
    /// <see cref="SyncPlanner.WaitToRename(string, FolderObservation, TimeSpan, TimeSpan?)"/>); else it is renamed, to the
    /// name the server moved it to where another device resolved this clash and that name is free here, else to the first
    /// free <c>(Case Conflict N)</c> name; but a folder in which anything changed since its walk waits (the walk is no
    /// snapshot). Renamed on the server first where the server holds it; if refused, it waits a pass, or, refused at its
    /// last try too, is renamed here alone (the rows that said the server holds it were stale).
    /// </summary>
    public static LocalCaseOutcome Decide(LocalCaseClash clash)
    {
        var (path, isDirectory) = (clash.Path, clash.IsDirectory);
        if (!isDirectory && clash.FollowsServer is { } follows)
        {
            return new LocalCaseOutcome(path, isDirectory, LocalCaseOutcomeKind.FollowServer) { Entry = follows };
        }

        // Where the server already moved what was synced under this name to a "(Case Conflict)" name (another device
        // resolved this clash, or a pass of this one that stopped part-way), it follows there: a name of its own would
        // clash again, or duplicate the moved files; unless that name is taken here (made meanwhile). A wait follows too
        // (its outcome names the move it waits to follow): the next pass, past that move, must still follow it.
        var followed = clash.MovedAwayTo is not null && !clash.MovedAwayTaken;
        if (Waits(clash) is { } wait)
        {
            return followed ? wait with { Target = clash.MovedAwayTo, Followed = true } : wait;
        }

        var target = followed ? clash.MovedAwayTo : clash.FreeName;
        if (target is null)
        {
            return new LocalCaseOutcome(path, isDirectory, LocalCaseOutcomeKind.NoFreeName);
        }

        // Read last, right before the move: a name made or removed in any folder the walk read, since it read it (the walk
        // is no snapshot), means the tree is being written: it waits, as if the walk had seen it.
        if (isDirectory && clash.ChangedSinceWalk is { } changed)
        {
            return new LocalCaseOutcome(path, isDirectory, LocalCaseOutcomeKind.Wait)
            {
                Wait = SyncPlanner.WaitToRename(path, isDirectory: true, changed),
                Log = $"case conflict: folder '{path}' is not renamed this pass: a folder in it changed since it was looked at",
                Target = followed ? target : null,
                Followed = followed,
            };
        }

        return new LocalCaseOutcome(path, isDirectory, LocalCaseOutcomeKind.Rename)
        {
            Target = target,
            Followed = followed,
            OnServer = clash.OnServer,
            HereAloneIfRefused = clash.RefusedBefore,
            Walked = clash.Walked,
        };
    }

    /// <summary>
    /// What becomes of each of <paramref name="clashes"/> (all read before any is renamed, in the order they are acted
    /// on), decided at once: each as <see cref="Decide"/>, except that a name an earlier clash of the pass is renamed to,
    /// in any case, is taken for a later one (its next free name, <see cref="LocalCaseClash.MoreFreeNames"/>; the name the
    /// server moved it to counts as taken here), as it was when each was read after the renames before it.
    /// </summary>
    public static List<LocalCaseOutcome> DecideAll(IReadOnlyList<LocalCaseClash> clashes)
    {
        var picked = new HashSet<string>(StringComparer.Ordinal); // case-folded
        var outcomes = new List<LocalCaseOutcome>(clashes.Count);
        foreach (var facts in clashes)
        {
            var outcome = Decide(facts, picked);
            if (outcome.Kind == LocalCaseOutcomeKind.Rename)
            {
                picked.Add(SyncPaths.CaseFoldKey(outcome.Target!));
            }

            outcomes.Add(outcome);
        }

        return outcomes;
    }

    /// <summary>As <see cref="Decide(LocalCaseClash)"/>, with the names other renames of the pass take (<paramref name="picked"/>, case-folded) taken.</summary>
    public static LocalCaseOutcome Decide(LocalCaseClash facts, IReadOnlySet<string> picked)
    {
        if (picked.Count == 0)
        {
            return Decide(facts);
        }

        var free = new[] { facts.FreeName }.Concat(facts.MoreFreeNames).FirstOrDefault(n => n is not null && !picked.Contains(SyncPaths.CaseFoldKey(n)));
        return Decide(facts with
        {
            MovedAwayTaken = facts.MovedAwayTaken || (facts.MovedAwayTo is { } to && picked.Contains(SyncPaths.CaseFoldKey(to))),
            FreeName = free,
        });
    }

    /// <summary>
    /// The look right before a rename the rule decided (<paramref name="outcome"/>): a file observed unsettled now
    /// (<paramref name="fileSettlesIn"/>, from its stat now), or a folder in which a name was made or removed since its
    /// walk (<paramref name="folderChangedSinceWalk"/>, read now), waits as it would have at the facts: renamed, the write
    /// would be split. Null: renamed now.
    /// </summary>
    public static LocalCaseOutcome? Recheck(LocalCaseOutcome outcome, TimeSpan? fileSettlesIn, TimeSpan? folderChangedSinceWalk)
    {
        var (path, isDirectory) = (outcome.Path, outcome.IsDirectory);
        if (!isDirectory)
        {
            return SyncPlanner.WaitToRename(path, isDirectory: false, fileSettlesIn) is { } fileWait
                ? new LocalCaseOutcome(path, false, LocalCaseOutcomeKind.Wait) { Wait = fileWait }
                : null;
        }

        return folderChangedSinceWalk is { } changed
            ? new LocalCaseOutcome(path, true, LocalCaseOutcomeKind.Wait)
            {
                Wait = SyncPlanner.WaitToRename(path, isDirectory: true, changed),
                Log = $"case conflict: folder '{path}' is not renamed this pass: a folder in it changed since it was looked at",
            }
            : null;
    }

    /// <summary>True when <paramref name="clash"/> waits by what was observed of it being written, whatever else holds (the facts reader reads no further).</summary>
    public static bool WaitsToRename(LocalCaseClash clash) => (clash.IsDirectory || clash.FollowsServer is null) && Waits(clash) is not null;

    /// <summary>The wait of a file observed unsettled, or of a folder not walked again yet, found unsettled, or not seen whole by its walk; null: none.</summary>
    private static LocalCaseOutcome? Waits(LocalCaseClash clash)
    {
        var path = clash.Path;
        if (!clash.IsDirectory)
        {
            return SyncPlanner.WaitToRename(path, isDirectory: false, clash.SettlesIn) is { } fileWait
                ? new LocalCaseOutcome(path, false, LocalCaseOutcomeKind.Wait) { Wait = fileWait }
                : null;
        }

        if (clash.BackoffLeft is { } left)
        {
            return new LocalCaseOutcome(path, true, LocalCaseOutcomeKind.Wait) { Wait = SyncPlanner.WaitToRename(path, FolderObservation.PastBound("not looked at again yet"), left) };
        }

        var observed = clash.Walk ?? FolderObservation.Settled;
        if (observed.Unchecked is null)
        {
            return SyncPlanner.WaitToRename(path, observed, UncheckedFolderBackoff.First) is { } folderWait
                ? new LocalCaseOutcome(path, true, LocalCaseOutcomeKind.Wait) { Wait = folderWait }
                : null;
        }

        // Past the walk's bound: the next look reads up to it again, so the backoff's interval. A read error (a subfolder
        // gone during the walk: a tree being moved) may not be met again: the backoff's short retries, then its interval.
        var wait = observed.OverBound
            ? SyncPlanner.WaitToRename(path, observed, clash.Recheck)!
            : SyncPlanner.WaitToRename(path, observed, UncheckedFolderBackoff.First, clash.Recheck)!;
        return new LocalCaseOutcome(path, true, LocalCaseOutcomeKind.Wait)
        {
            Wait = wait,
            Log = $"case conflict: folder '{path}' is not renamed this pass: {observed.Unchecked}; looked at again in {wait.SettlesIn}",
        };
    }
}
