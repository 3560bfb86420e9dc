using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The planner's rule for new remote files whose names clash in case with a name here, on a folder that folds case
/// (pure, as <see cref="SyncPlanner"/> is; the engine applies it to what the pass found, the planner plans its answer,
/// the executor renames on the server): see <see cref="Decide"/>.
/// </summary>
internal static class NewRemoteCaseRules
{
    /// <summary>
    /// A new remote file (never synced here, nothing at its path here) whose name, or a folder above it, differs only in
    /// case from a name here (synced, scanned, new or withheld) or from another new remote name of this pass (the first
    /// in ordinal order keeps its name) would land on that other file or folder: it is never downloaded this pass.
    /// Where the other name goes away this pass (deleted or moved on the server), the newcomer waits one pass and is then
    /// taken (<see cref="NewRemoteCaseOutcome.TakenNextPass"/>). Otherwise, as Dropbox does, it is renamed ON THE SERVER
    /// to its "(Case Conflict)" name (its clashing part, <see cref="NewRemoteCaseOutcome.RenameOnServer"/>) and is
    /// downloaded under that name by the next pass: it never stays withheld, and never lands on the other file. A name
    /// taken here, in this pass's remote view (in any case) or, as the server answered, on the server
    /// (<paramref name="refusedNames"/>) is never picked. Where the probe could not tell whether the folder folds case
    /// (<paramref name="foldsCase"/> null), a clashing newcomer is only held back (<see cref="NewRemoteCaseOutcome.HeldBack"/>):
    /// renamed on the server it would be renamed for every device although this folder may keep both names, downloaded it
    /// might land on the other name. On a folder that tells case apart (false) nothing clashes.
    /// </summary>
    /// <param name="remote">The pass's remote view (before its plain new downloads are taken out).</param>
    /// <param name="synced">The synced paths.</param>
    /// <param name="local">The scan's snapshot (its entries and withheld paths).</param>
    /// <param name="newLocal">The plain new local files the scan kept aside.</param>
    /// <param name="foldsCase">The probe's answer: does the folder fold case.</param>
    /// <param name="refusedNames">"(Case Conflict)" names the server refused as existing, remembered by the engine.</param>
    public static List<NewRemoteCaseClash> Decide(IReadOnlyDictionary<string, RemoteEntry> remote, IReadOnlyDictionary<string, BaseStat> synced, LocalSnapshot local, IEnumerable<string> newLocal, bool? foldsCase, IReadOnlySet<string> refusedNames)
    {
        var clashes = new List<NewRemoteCaseClash>();
        if (foldsCase == false)
        {
            return clashes;
        }

        List<string>? candidates = null;
        foreach (var (path, entry) in remote)
        {
            if (entry is { Kind: FileKind.File, Deleted: false } && !synced.ContainsKey(path) && !local.Entries.ContainsKey(path))
            {
                (candidates ??= []).Add(path);
            }
        }

        if (candidates is null)
        {
            return clashes;
        }

        candidates.Sort(StringComparer.Ordinal);
        var renamedParts = new Dictionary<string, string>(StringComparer.Ordinal); // a clashing folder's new name, for every file under it
        var names = new CaseNamesInUse(remote);
        foreach (var path in synced.Keys.Concat(local.Entries.Keys).Concat(local.Withheld).Concat(newLocal).Order(StringComparer.Ordinal))
        {
            names.Add(path);
        }

        foreach (var path in candidates)
        {
            string? clash = null, other = null;
            for (var end = path.Length; end > 0; end = path.LastIndexOf('/', end - 1))
            {
                var name = path[..end];
                if (!names.HoldsExactly(name) && names.TryGetFolded(name, out var holder))
                {
                    (clash, other) = (name, holder); // the outermost clashing part wins: it is renamed whole
                }
            }

            if (clash is null)
            {
                names.Add(path); // taken this pass: a later new name of another case clashes with it
                continue;
            }

            names.KeepRemoteView();
            var version = remote[path].Version;
            if (synced.ContainsKey(other!) && remote.TryGetValue(other!, out var gone) && gone.Deleted)
            {
                clashes.Add(new NewRemoteCaseClash(path, clash, other!, NewRemoteCaseOutcome.TakenNextPass, version, null, names));
                continue;
            }

            if (foldsCase is null)
            {
                names.Add(path);
                clashes.Add(new NewRemoteCaseClash(path, clash, other!, NewRemoteCaseOutcome.HeldBack, version, null, names));
                continue;
            }

            // The files of one clashing folder go to one renamed folder, not one each: this pass's, else the first
            // "(Case Conflict)" folder an earlier pass made (held here exactly as a folder) where the file's own path is free.
            var rest = path[clash.Length..];
            var target = renamedParts.TryGetValue(clash, out var renamed) && FreeUnder(names, renamed, rest)
                ? renamed + rest
                : TargetOf(path, clash, p => refusedNames.Contains(p) || (names.Contains(p) && !(rest.Length > 0 && FreeUnder(names, p, rest))));
            renamedParts.TryAdd(clash, RenamedPart(path, clash, target));
            names.Add(target);
            clashes.Add(new NewRemoteCaseClash(path, clash, other!, NewRemoteCaseOutcome.RenameOnServer, version, target, names));
        }

        return clashes;
    }

    /// <summary>
    /// True when <paramref name="folder"/> is held exactly as a folder and <paramref name="rest"/> (a path under it, from
    /// its '/') can go there: nothing at that path in any case, and no folder on the way held as a file.
    /// </summary>
    internal static bool FreeUnder(CaseNamesInUse names, string folder, string rest)
    {
        if (rest.Length == 0 || !names.HoldsFolder(folder) || names.Contains(folder + rest))
        {
            return false;
        }

        for (var end = rest.IndexOf('/', 1); end > 0; end = rest.IndexOf('/', end + 1))
        {
            var above = folder + rest[..end];
            if (names.Contains(above) && !names.HoldsFolder(above))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The renamed clashing part of <paramref name="target"/>, the name <paramref name="path"/> takes with its part <paramref name="clash"/> renamed.</summary>
    internal static string RenamedPart(string path, string clash, string target) => target[..(target.Length - (path.Length - clash.Length))];

    /// <summary>The path <paramref name="path"/> takes when its clashing part <paramref name="clash"/> gets the first "(Case Conflict)" name <paramref name="isTaken"/> refuses.</summary>
    public static string TargetOf(string path, string clash, Func<string, bool> isTaken) =>
        CaseConflicts.CaseConflictName(clash, isTaken) + path[clash.Length..];
}
