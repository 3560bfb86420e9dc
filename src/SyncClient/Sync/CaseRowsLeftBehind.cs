using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The synced rows a case-conflict rename of a folder left at the old name: the folder renamed here and on the server
/// (its move to its <c>(Case Conflict)</c> name in the feed), the process gone before the rows' db write
/// (<see cref="LocalCaseRenames.MoveRows"/>). The next pass (its cursor older than the move: the crashed pass never
/// stored one) matched the renamed files by content, which kept every byte, but a file another device deleted before the
/// move was new under the new name and sent back to the server, undoing that delete (review ag51). Found here, the rows
/// follow the move as they do another device's (<see cref="LocalCaseRenames.FollowedMove"/>, by the view, where
/// <see cref="DeletesBeforeCaseMoves"/> has put that delete at the new path), before the scan, so the pass plans
/// against them there.
/// </summary>
internal static class CaseRowsLeftBehind
{
    /// <summary>
    /// Each folder (old name, new name) that <paramref name="changes"/> (a pass's feed, not a full listing: that holds no
    /// move) holds moved to a case-conflict name of it, whose rows are in <paramref name="index"/> at the old name and none
    /// at or under the new one, with nothing at the old name here and a folder at the new one (<paramref name="fullPath"/>):
    /// the rename made here, the rows not. Anything else is left to the planner as before (a folder still here at the old
    /// name is the case-conflict rename's to follow; on a disk that folds case the old name is found here, the winner's).
    /// </summary>
    internal static List<(string From, string To)> Find(IReadOnlyDictionary<string, RemoteEntry> changes, IReadOnlyDictionary<string, BaseStat> index, Func<string, string> fullPath)
    {
        var left = new List<(string From, string To)>();
        foreach (var (path, entry) in changes.Where(c => c.Value is { Deleted: true, Kind: FileKind.Folder, MovedTo: not null }).OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            if (entry is not { Deleted: true, Kind: FileKind.Folder, MovedTo: { } to } || !LocalCaseFacts.IsCaseConflictNameOf(to, path)
                || left.Exists(l => LocalCaseFacts.Under(path, l.From)) || !index.TryGetValue(path, out var row) || row.Kind != FileKind.Folder
                || index.Keys.Any(p => LocalCaseFacts.Under(p, to)))
            {
                continue;
            }

            var (here, there) = (fullPath(path), fullPath(to));
            if (!File.Exists(here) && !Directory.Exists(here) && Directory.Exists(there) && AllThereAsSynced(path, to, index, fullPath))
            {
                left.Add((path, to));
            }
        }

        return left;
    }

    /// <summary>
    /// True when every row under <paramref name="from"/> has its thing at the same place under <paramref name="to"/> here:
    /// a folder as a folder, a file with the size and mtime it was synced with (<see cref="FileStamp"/>). What a rename of
    /// the folder leaves; never inferred from the names alone: a folder the user made at a "(Case Conflict)" name (or
    /// renamed to it and then edited) while another device moved the synced one there took the rows over its own files (its
    /// x.txt looked like an edit of the other device's and was sent over it; the moved files with no file here looked
    /// deleted here and were deleted on the server; review rd51). Anything else is left to the planner as before.
    /// </summary>
    private static bool AllThereAsSynced(string from, string to, IReadOnlyDictionary<string, BaseStat> index, Func<string, string> fullPath)
    {
        foreach (var (path, row) in index)
        {
            if (!LocalCaseFacts.Under(path, from) || path == from)
            {
                continue;
            }

            var moved = fullPath(to + path[from.Length..]);
            var there = row.Kind == FileKind.Folder
                ? Directory.Exists(moved)
                : FileChangeTime.TryStat(moved) is { } stat && stat.IsFileAs(row.Size, row.MtimeTicks);
            if (!there)
            {
                return false;
            }
        }

        return true;
    }
}
