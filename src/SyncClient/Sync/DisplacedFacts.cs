using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Reads what the planner needs to decide each leftover the scan found (<see cref="LocalSnapshot.Displaced"/>): its
/// content, and the paths of its folder that could hold the same bytes (<see cref="DisplacedFile"/>). It moves, deletes
/// and records nothing: the planner decides (<see cref="DisplacedRules"/>) and the executor acts (<see cref="DisplacedFiles"/>).
/// The engine calls it right after the scan, before the remote view loses its echoes and its plain new downloads
/// (<see cref="PlannerFastPaths"/>): a leftover may hold the bytes of either.
/// </summary>
internal static class DisplacedFacts
{
    /// <summary>
    /// The facts of each leftover of <paramref name="snapshot"/>, against the synced tree <paramref name="index"/> (its
    /// clean rows included) and the remote changes of <paramref name="remote"/>. One that cannot be read has no
    /// fingerprint (never a failed pass): the rule then keeps it.
    /// </summary>
    public static async Task<List<DisplacedFile>> ReadAsync(SyncContext ctx, FileHasher hasher, LocalSnapshot snapshot, IReadOnlyDictionary<string, BaseStat> index,
        RemoteView remote, Stability stability, CancellationToken ct)
    {
        var facts = new List<DisplacedFile>(snapshot.Displaced.Count);
        foreach (var (holding, original) in snapshot.Displaced)
        {
            FileFingerprint? read;
            try
            {
                read = await hasher.TryHashAsync(ctx.FullPath(holding), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                read = null;
            }

            facts.Add(Of(holding, original, read, index, p => ctx.State.GetFile(p), (p, stat) => Here(ctx.FullPath(p), stat), remote.Changes, stability));
        }

        return facts;
    }

    /// <summary>
    /// The facts of one leftover read as <paramref name="read"/>: the synced files of its folder of its size (the db's
    /// <paramref name="record"/> of each, and what is <paramref name="here"/> at its path), and the remote changes of
    /// its folder of its size (equal bytes have equal sizes: no other path can hold them), and the stability rule's
    /// observation of it. Touches no file itself.
    /// </summary>
    internal static DisplacedFile Of(string holding, string? original, FileFingerprint? read, IEnumerable<KeyValuePair<string, BaseStat>> index,
        Func<string, FileRecord?> record, Func<string, BaseStat, FoundHere> here, IReadOnlyDictionary<string, RemoteEntry> remote, Stability stability)
    {
        if (read is null)
        {
            return new DisplacedFile(holding, original);
        }

        var folder = SyncPaths.Parent(holding);
        var synced = new List<DisplacedCandidate>();
        foreach (var (path, stat) in index)
        {
            if (stat.Kind == FileKind.File && stat.Size == read.Size && SyncPaths.Parent(path) == folder && record(path) is { Kind: FileKind.File } row)
            {
                synced.Add(new DisplacedCandidate(path, row.Size, row.ContentHash, here(path, stat), remote.GetValueOrDefault(path)));
            }
        }

        var changes = remote.Where(kv => kv.Value.Size == read.Size && SyncPaths.Parent(kv.Key) == folder).OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value).ToList();
        synced.Sort((x, y) => string.CompareOrdinal(x.Path, y.Path));
        return new DisplacedFile(holding, original)
        {
            Fingerprint = read,
            SettlesIn = stability.SettlesIn(holding, read.MtimeTicks),
            Synced = synced,
            Remote = changes,
        };
    }

    /// <summary>What is at <paramref name="full"/> against the synced <paramref name="stat"/> (a link followed, as the scan reads it).</summary>
    private static FoundHere Here(string full, BaseStat stat)
    {
        var info = new FileInfo(full);
        if (info.Exists)
        {
            return FileStamp.Of(info) != FileStamp.Of(stat) || FileStamp.ChangeTimeMoved(stat.ChangeTimeNs, FileChangeTime.TryGet(full)) ? FoundHere.Changed : FoundHere.AsSynced;
        }

        return Path.Exists(full) ? FoundHere.NotAFile : FoundHere.Nothing;
    }
}
