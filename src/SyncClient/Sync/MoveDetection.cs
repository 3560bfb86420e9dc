using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using static Dropbox.SyncClient.Sync.KindConflictRules;
using static Dropbox.SyncClient.Sync.SyncPlanner;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The planner's move detection, pure as <see cref="SyncPlanner"/> is: a remote move of a file unchanged here becomes a
/// local rename (<see cref="PlanRemoteMoves"/>, before the per-path decisions, which then leave both paths alone), and a
/// local rename, one vanished file and one new file of the same size and content, becomes a remote move
/// (<see cref="DetectLocalMoves"/>, over the decisions made).
/// </summary>
internal static class MoveDetection
{
    internal static void PlanRemoteMoves(PlanInput input, List<SyncAction> actions, HashSet<string> handled)
    {
        foreach (var remote in input.Remote.Values)
        {
            if (remote.MovedFrom is not { } from || remote.Deleted || remote.Kind != FileKind.File)
            {
                continue;
            }

            if (!input.Remote.TryGetValue(from, out var oldRemote) || !oldRemote.Deleted || oldRemote.MovedTo != remote.Path)
            {
                continue;
            }

            if (!input.Base.TryGetValue(from, out var oldBase) || !input.Local.Entries.TryGetValue(from, out var oldLocal))
            {
                continue;
            }

            // A chmod here alone still moves (MoveLocal keeps the file's bit and records the moved entry's, so the
            // next pass sends the chmod): a copy of the file would be the only other outcome.
            // A moved ctime (a write with the mtime put back, or only a chmod), or one not seen against a recorded one
            // (the planner's rule, see IsUnchanged), asks for the bytes: the file was read.
            var unchanged = oldLocal.Kind == FileKind.File && FileStamp.Of(oldLocal) == FileStamp.Of(oldBase)
                && (FileStamp.ChangeTimeAsRecorded(oldBase.ChangeTimeNs, oldLocal.ChangeTimeNs)
                    || (input.Fingerprints.TryGetValue(from, out var read) && read.ContentHash.AsSpan().SequenceEqual(oldBase.ContentHash)));
            if (!unchanged || input.Local.Entries.ContainsKey(remote.Path) || input.IsWithheld(remote.Path) || input.Base.ContainsKey(remote.Path)
                || !oldBase.ContentHash.AsSpan().SequenceEqual(remote.ContentHash) || UnderKindClash(input, remote.Path, NoneLeaving))
            {
                continue;
            }

            actions.Add(new SyncAction(SyncActionKind.MoveLocal, from) { ToPath = remote.Path, Local = oldLocal, Remote = remote, Base = oldBase });
            handled.Add(from);
            handled.Add(remote.Path);
        }
    }

    private static readonly HashSet<string> NoneLeaving = new(StringComparer.Ordinal);

    /// <summary>
    /// The planner's input preparation for a full listing, which shows a remote move only as its two ends: the old path
    /// deleted, the new one a file this client never synced. Where exactly one deleted synced file and exactly one such
    /// new file share a size and content (as far as the synced state's hash prefix tells; <see cref="PlanRemoteMoves"/>
    /// compares the whole hash with the synced record before it renames anything), the delete is newer than the synced
    /// version (not a server that went back, see <see cref="SyncPlanner.WentBack"/>), and nothing is at the new path here
    /// (<paramref name="occupiedHere"/>: whatever the scan leaves out, an ignored or unreadable name, would refuse the
    /// rename on every pass, each asking for another listing), the two entries are linked as the change feed links a move.
    /// The move is then applied as a local rename where the file is unchanged here, instead of a delete into the trash
    /// and a download of the same bytes; anywhere else the linked entries are planned as any feed move's are. Names with
    /// the case-conflict marker are left as they are (the case-conflict rules read moves to them as the server's own).
    /// Returns how many moves were linked.
    /// </summary>
    internal static int LinkListedMoves(Dictionary<string, RemoteEntry> remote, IReadOnlyDictionary<string, BaseStat> synced, Func<string, bool> occupiedHere)
    {
        // Per (size, hash prefix): the one path, or null once a second one makes the pair ambiguous. The deleted ends
        // first: a listing without any (most of them) looks at nothing else.
        var gone = new Dictionary<(long Size, long Prefix), string?>();
        foreach (var (path, entry) in remote)
        {
            if (Linkable(path, entry) && entry.Deleted
                && synced.TryGetValue(path, out var stat) && stat.Kind == FileKind.File && stat.HashPrefix != 0 && entry.Version > stat.Version)
            {
                Note(gone, (stat.Size, stat.HashPrefix), path);
            }
        }

        if (gone.Count == 0)
        {
            return 0;
        }

        var arrived = new Dictionary<(long Size, long Prefix), string?>();
        foreach (var (path, entry) in remote)
        {
            if (Linkable(path, entry) && !entry.Deleted && !synced.ContainsKey(path)
                && (entry.Size, BaseStat.PrefixOf(entry.ContentHash)) is var key && key.Item2 != 0 && gone.ContainsKey(key))
            {
                Note(arrived, key, path);
            }
        }

        var linked = 0;
        foreach (var (key, from) in gone)
        {
            if (from is not null && arrived.TryGetValue(key, out var to) && to is not null && !occupiedHere(to))
            {
                remote[from] = remote[from] with { MovedTo = to };
                remote[to] = remote[to] with { MovedFrom = from };
                linked++;
            }
        }

        return linked;
    }

    private static bool Linkable(string path, RemoteEntry entry) =>
        entry.Kind == FileKind.File && entry.MovedFrom is null && entry.MovedTo is null
        && !path.Contains(CaseConflicts.CaseConflictMarker, StringComparison.Ordinal);

    private static void Note(Dictionary<(long Size, long Prefix), string?> paths, (long Size, long Prefix) key, string path)
    {
        paths[key] = paths.ContainsKey(key) ? null : path;
    }

    internal static List<SyncAction> DetectLocalMoves(List<SyncAction> actions)
    {
        // Only unambiguous pairs: one vanished file and one new file with the same size and content.
        var deletes = actions.Where(a => a.Kind == SyncActionKind.DeleteRemote && a.Base is not null)
            .GroupBy(a => Key(a.Base!.Size, a.Base.ContentHash)).Where(g => g.Count() == 1).ToDictionary(g => g.Key, g => g.First());
        var uploads = actions.Where(a => a.Kind == SyncActionKind.Upload && a.Base is null && a.Fingerprint is not null)
            .GroupBy(a => Key(a.Fingerprint!.Size, a.Fingerprint.ContentHash)).Where(g => g.Count() == 1).ToDictionary(g => g.Key, g => g.First());
        if (deletes.Count == 0 || uploads.Count == 0)
        {
            return actions;
        }

        var replaced = new HashSet<SyncAction>(ReferenceEqualityComparer.Instance);
        var moves = new List<SyncAction>();
        foreach (var (key, delete) in deletes)
        {
            if (uploads.TryGetValue(key, out var upload))
            {
                replaced.Add(delete);
                replaced.Add(upload);
                moves.Add(new SyncAction(SyncActionKind.MoveRemote, delete.Path)
                {
                    ToPath = upload.Path,
                    BaseVersion = delete.BaseVersion,
                    Base = delete.Base,
                    Local = upload.Local,
                    Fingerprint = upload.Fingerprint,
                });
            }
        }

        var result = actions.Where(a => !replaced.Contains(a)).ToList();
        result.AddRange(moves);
        return result;
    }

    private static string Key(long size, byte[] hash) => size + ":" + Convert.ToHexString(hash);
}
