using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The snapshot as the plan sees it after a local case clash was resolved (<see cref="LocalCaseRules"/>): a function of
/// the outcome and of how applying it went, touching no file, so the same edit can be made wherever the plan is made.
/// </summary>
internal static class LocalCaseSnapshot
{
    /// <summary>
    /// Edits <paramref name="snapshot"/> for <paramref name="outcome"/> applied as <paramref name="applied"/>. A name left
    /// alone is withheld (nothing of it uploaded, deleted or downloaded over), a folder with everything under it; one
    /// renamed with its rows is withheld under both names (the next pass finds it synced under the new one); a folder
    /// renamed here alone leaves its old name withheld (nothing under it is deleted anywhere; the next pass takes the
    /// renamed folder as new, its files matched to the synced ones by content); a file renamed here alone is taken under
    /// its new name now: the scan's entry moved, or, where the scan withheld it (its loser), <paramref name="renamedFile"/>
    /// (the file's entry at its new name, read from disk by the caller).
    /// </summary>
    public static void Apply(LocalSnapshot snapshot, LocalCaseOutcome outcome, LocalCaseApplied applied, Func<string, LocalEntry>? renamedFile = null)
    {
        var path = outcome.Path;
        switch (applied)
        {
            case LocalCaseApplied.FollowedServer:
                snapshot.Withheld.Remove(path); // no clash once the server's delete or move is applied to it
                snapshot.Entries[path] = outcome.Entry!;
                return;
            case LocalCaseApplied.LeftAlone:
                if (outcome.IsDirectory)
                {
                    RemoveUnder(snapshot, path);
                }

                snapshot.Withheld.Add(path);
                snapshot.Entries.Remove(path);
                return;
            case LocalCaseApplied.RenamedWithRows:
                RemoveUnder(snapshot, path);
                snapshot.Withheld.Add(path);
                snapshot.Withheld.Add(outcome.Target!);
                return;
            case LocalCaseApplied.Renamed when outcome.IsDirectory:
                RemoveUnder(snapshot, path);
                snapshot.Withheld.Add(path);
                return;
            default:
                var target = outcome.Target!;
                if (snapshot.Entries.Remove(path, out var entry))
                {
                    snapshot.Entries[target] = entry with { Path = target };
                }
                else
                {
                    snapshot.Withheld.Remove(path);
                    snapshot.Entries[target] = renamedFile!(target);
                }

                return;
        }
    }

    /// <summary>
    /// Edits <paramref name="snapshot"/> for <paramref name="outcome"/> as the plan sees it before its rename is made (the
    /// executor makes it first, <see cref="SyncActionKind.CaseRenameLocal"/>), a function of the rule's outcome and its
    /// facts alone, and the same edit made twice is made once (the engine edits the pass's snapshot with it before its
    /// reads, the planner a copy of what it is given). A name that waits is left alone (one that waits to follow the server's
    /// move withheld under both names). A folder, and a name renamed on
    /// the server first or following the server's rename, is withheld under both names whether its rename is made or
    /// not (nothing under either is taken this pass; the next finds it synced, or new, under its new name). A file renamed
    /// here alone is taken under its new name, read at its old one (<see cref="LocalEntry.ReadAt"/>): its entry moved, or,
    /// where the scan withheld it (its loser), the entry its facts read (<see cref="LocalCaseClash.Scanned"/>).
    /// </summary>
    public static void AsPlanned(LocalSnapshot snapshot, LocalCaseOutcome outcome, LocalCaseClash facts)
    {
        switch (outcome.Kind)
        {
            case LocalCaseOutcomeKind.FollowServer:
                Apply(snapshot, outcome, LocalCaseApplied.FollowedServer);
                return;
            case LocalCaseOutcomeKind.Rename when !TakenUnderNewName(outcome):
                RemoveUnder(snapshot, outcome.Path);
                snapshot.Withheld.Add(outcome.Path);
                snapshot.Withheld.Add(outcome.Target!);
                return;
            case LocalCaseOutcomeKind.Rename:
                var (path, target) = (outcome.Path, outcome.Target!);
                if (snapshot.Entries.TryGetValue(target, out var planned) && planned.ReadAt == path)
                {
                    return; // edited so before
                }

                var entry = snapshot.Entries.Remove(path, out var scanned) ? scanned : facts.Scanned;
                if (entry is null)
                {
                    // Gone when its facts were read (the rename will say so): nothing to take under either name.
                    snapshot.Withheld.Add(path);
                    snapshot.Withheld.Add(target);
                    return;
                }

                snapshot.Withheld.Remove(path);
                snapshot.Entries[target] = entry with { Path = target, ReadAt = path };
                return;
            case LocalCaseOutcomeKind.Wait when outcome.Followed:
                // Nothing comes down under the name it waits to follow either: there, it would take that name from the rename.
                Apply(snapshot, outcome, LocalCaseApplied.LeftAlone);
                RemoveUnder(snapshot, outcome.Target!);
                snapshot.Withheld.Add(outcome.Target!);
                return;
            default:
                Apply(snapshot, outcome, LocalCaseApplied.LeftAlone);
                return;
        }
    }

    /// <summary>True when <paramref name="outcome"/>, a rename, is a file renamed here alone: taken under its new name this pass (everything else is withheld under both).</summary>
    public static bool TakenUnderNewName(LocalCaseOutcome outcome) => !outcome.IsDirectory && outcome.OnServer.Count == 0 && !outcome.Followed;

    /// <summary>Takes out of the snapshot's entries and empty folders everything at or under <paramref name="path"/>.</summary>
    private static void RemoveUnder(LocalSnapshot snapshot, string path)
    {
        foreach (var under in snapshot.Entries.Keys.Where(k => k == path || k.StartsWith(path + "/", StringComparison.Ordinal)).ToList())
        {
            snapshot.Entries.Remove(under);
        }

        snapshot.EmptyFolders.RemoveWhere(k => k == path || k.StartsWith(path + "/", StringComparison.Ordinal));
    }
}
