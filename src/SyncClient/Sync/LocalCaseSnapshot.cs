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
