namespace Dropbox.SyncClient.Sync;

/// <summary>
/// A remote delete the feed holds at a path under a folder that was then moved to its <c>(Case Conflict)</c> name (this
/// client's case-conflict rename on the server, or another device's), read by a pass whose cursor is older than both:
/// the feed is ordered, so a delete (not a move away: no <see cref="RemoteEntry.MovedTo"/>) whose sequence is before the
/// folder's move is of a file the move would otherwise have carried to the new name. Folded per path, the view held it at
/// the old path alone, which the rows no longer hold once they follow the move: the file stayed here under the new name
/// and was sent back to the server, undoing the other device's delete (a crash between the server's move and the rows'
/// db write, or a listing after the move that failed: review ag51). <see cref="Apply"/> puts it where the move would have
/// carried it.
/// </summary>
internal static class DeletesBeforeCaseMoves
{
    /// <summary>
    /// For each delete in <paramref name="changes"/> (a pass's remote view) under a folder whose old path the view holds
    /// moved to a case-conflict name of it (<see cref="LocalCaseFacts.IsCaseConflictNameOf"/>) at a later sequence: the
    /// old end names the new path (<see cref="RemoteEntry.MovedTo"/>), so a row that follows the move follows it there
    /// (<see cref="LocalCaseRenames.FollowedMove"/>), and the new path holds the delete, so the planner decides it as a
    /// remote delete of that row (its file deleted here where it is as synced, kept and sent where edited). Nothing is
    /// changed where the view holds anything at the new path (a change listed there since is newer), nor where the db holds
    /// the new path synced at a version newer than the delete (<paramref name="syncedVersion"/>: made there since, by this
    /// client or another device, its listing an echo dropped from the view; a row that followed the move keeps its older
    /// version), nor for a delete after the move (a file made at the old path after the move and deleted: not the moved
    /// row's), nor under a folder whose name only looks like a case-conflict name with no move to it in the view.
    /// Returns the deletes put at new paths: the server never held those paths, so a pass that withholds one keeps its
    /// delete (<see cref="FollowedCaseMoves.StillWithheld"/>), which the path's lookup could not find again.
    /// </summary>
    internal static List<RemoteEntry> Apply(Dictionary<string, RemoteEntry> changes, Func<string, ulong?> syncedVersion)
    {
        // Most views hold no such move: then nothing else is looked at.
        if (!changes.Any(c => c.Value is { Deleted: true, MovedTo: { } to } && to.Contains(CaseConflicts.CaseConflictMarker, StringComparison.Ordinal) && LocalCaseFacts.IsCaseConflictNameOf(to, c.Key)))
        {
            return [];
        }

        List<(string From, RemoteEntry To)>? redirects = null;
        foreach (var (path, entry) in changes)
        {
            if (entry is not { Deleted: true, MovedTo: null, MovedFrom: null } || MovedWith(path, entry.Version, changes) is not { } to || changes.ContainsKey(to))
            {
                continue;
            }

            // Synced there since (the planner model's seed 262j9vvfYg91: a folder made there by this client, re-read from a
            // cursor a wait held before the delete): the delete is older than what the row holds, and would remove it here
            // while the server keeps it.
            if (syncedVersion(to) > entry.Version)
            {
                continue;
            }

            (redirects ??= []).Add((path, entry with { Path = to }));
        }

        foreach (var (from, to) in redirects ?? [])
        {
            changes[from] = changes[from] with { MovedTo = to.Path };
            changes[to.Path] = to;
        }

        return redirects?.ConvertAll(r => r.To) ?? [];
    }

    /// <summary>
    /// Where the nearest folder above <paramref name="path"/> that the view holds moved to a case-conflict name after
    /// <paramref name="sequence"/> would have carried it; null when none did, or when a folder between the two went
    /// elsewhere (the server moves a folder with one change per entry under it, so those between name their own place
    /// under the new name: any other is a later move of their own).
    /// </summary>
    private static string? MovedWith(string path, ulong sequence, Dictionary<string, RemoteEntry> changes)
    {
        var between = new List<(string Folder, string To)>();
        for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
        {
            var folder = path[..slash];
            if (!changes.TryGetValue(folder, out var moved) || moved is not { Deleted: true, MovedTo: { } target })
            {
                continue;
            }

            if (!LocalCaseFacts.IsCaseConflictNameOf(target, folder))
            {
                between.Add((folder, target));
                continue;
            }

            return moved.Version > sequence && between.TrueForAll(b => b.To == target + b.Folder[slash..]) ? target + path[slash..] : null;
        }

        return null;
    }
}
