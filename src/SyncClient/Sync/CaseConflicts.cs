using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Names that differ only in case. A case-insensitive device (macOS, Windows) can hold only one of them, so, as
/// Dropbox does, both are kept under names that do not clash: one is renamed here to <c>name (Case Conflict).ext</c>,
/// which syncs like any file. Nothing stays withheld, so no edit to either stays on this disk. The name on the server
/// first keeps it, decided from the server's state (see <see cref="ServerVersionOf"/>), so every device picks the same
/// loser: a long-synced file never loses its name to a newcomer. A loser the server holds is renamed on the server first
/// (conditionally, with the version seen), and a device that finds it renamed there follows that name.
/// One per engine: the losers the server refused to rename (<see cref="_refusedOnServer"/>) and the server moves that
/// followed renames not made yet follow (<see cref="Followed"/>) are remembered across its passes.
/// A new remote file that clashes is the planner's (<see cref="NewRemoteCaseRules"/>).
/// It decides nothing and renames nothing: the engine's pass has it read the facts of every clash (<see cref="ReadFacts"/>,
/// <see cref="LocalCaseFacts"/>), the planner decides them (<see cref="PlanInput.LocalCaseClashes"/>, <see cref="LocalCaseRules"/>)
/// and plans the pass over the snapshot as the renames leave it (<see cref="LocalCaseSnapshot.AsPlanned"/>), and the
/// executor renames them before anything else of the pass (<see cref="SyncActionKind.CaseRenameLocal"/>, <see cref="LocalCaseRenames"/>),
/// telling this memory what the server refused.
/// </summary>
/// <remarks>
/// A folder's rename and a rename on the server (or following the server's) take nothing under either name this pass,
/// whichever way they go (both names withheld in the plan; the rows move in the db after the rename), so as planner steps
/// they cost no pass. A file renamed here alone is planned under its new name and read at its old one
/// (<see cref="Local.LocalEntry.ReadAt"/>), and sent from its new one after the rename (the same inode, see
/// <see cref="LocalCaseRenames"/>): no pass either. A rename not made turns the plan's steps under both names into skips.
/// </remarks>
internal sealed class CaseConflicts
{
    private readonly SyncContext _ctx;

    public CaseConflicts(SyncContext ctx)
    {
        _ctx = ctx;
        _refusedOnServer = LoadRefusedOnServer(ctx.State.GetSetting(StateKeys.CaseRefusedOnServer));
        Followed = new FollowedCaseMoves(ctx);
    }

    /// <summary>The server moves followed renames not made yet follow, put back in each pass's remote view (see <see cref="FollowedCaseMoves"/>).</summary>
    internal FollowedCaseMoves Followed { get; }

    /// <summary>Most losers remembered in <see cref="_refusedOnServer"/>; past it the memory starts again.</summary>
    private const int MaxRefusedOnServer = 1_000;

    /// <summary>The stored refusals (<see cref="StateKeys.CaseRefusedOnServer"/>); none when absent or unreadable.</summary>
    internal static HashSet<string> LoadRefusedOnServer(string? json)
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(json))
        {
            return paths;
        }

        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Array)
            {
                foreach (var item in doc.RootElement.EnumerateArray())
                {
                    if (item.ValueKind == System.Text.Json.JsonValueKind.String && item.GetString() is { Length: > 0 } path && paths.Count < MaxRefusedOnServer)
                    {
                        paths.Add(path);
                    }
                }
            }
        }
        catch (System.Text.Json.JsonException)
        {
            // Unreadable: as if none (the cost is one more pass that waits before renaming here alone).
        }

        return paths;
    }

    /// <summary>Writes <see cref="_refusedOnServer"/> to the db (removed when empty).</summary>
    private void SaveRefusedOnServer()
    {
        if (_refusedOnServer.Count == 0)
        {
            _ctx.Db.SetCaseRefusedOnServer(null);
            return;
        }

        using var buffer = new MemoryStream();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (var path in _refusedOnServer.Order(StringComparer.Ordinal))
            {
                writer.WriteStringValue(path);
            }

            writer.WriteEndArray();
        }

        _ctx.Db.SetCaseRefusedOnServer(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }

    /// <summary>Tests: runs with the path of a clashing folder once its walk found it settled, before its rename.</summary>
    internal Action<string>? AfterFolderWalk { get; set; }

    /// <summary>The marker a renamed name carries.</summary>
    internal const string CaseConflictMarker = " (Case Conflict";

    /// <summary>
    /// Clash losers whose rename on the server was refused at their last try (see <see cref="LocalCaseRenames"/>), kept in the
    /// db (<see cref="StateKeys.CaseRefusedOnServer"/>): a <c>sync --once</c> run is a new engine, and with the memory in
    /// this object alone a device with stale rows waited at every run, the loser withheld for good.
    /// </summary>
    private readonly HashSet<string> _refusedOnServer;

    /// <summary>
    /// The server's version of a name as this pass sees the server (null: not on the server), which decides which of two
    /// names differing only in case keeps its name (see <see cref="LocalScanner"/>): for a file its live version; for a
    /// folder (most have no entry of their own) the lowest live version at or under it. The server is this pass's view of
    /// it: the synced rows, overridden by the changes this pass listed (a path deleted or moved away there is no longer
    /// on the server, whatever its row says; one changed there has its new version). Every device that sees the same
    /// server so reaches the same answer, and a name only here always loses. (The server keeps no creation version: a
    /// name whose every file was edited since the other name appeared counts as the newer one, on every device alike.)
    /// A device's own synced rows alone did not do: one holding a row for a name the server had deleted since (an edit
    /// kept against a remote delete) took that name for the older one, while the others renamed the other name, and the
    /// two renamed names clashed again, round after round (issue 14).
    /// </summary>
    internal static Func<string, ulong?> ServerVersionOf(Dictionary<string, BaseStat> index, IReadOnlyDictionary<string, RemoteEntry> remote)
    {
        Dictionary<string, ulong>? lowest = null; // built on the first clash only (a clash is rare; the index is large)
        return path =>
        {
            if (remote.TryGetValue(path, out var changed))
            {
                if (changed is { Deleted: false, Kind: FileKind.File })
                {
                    return changed.Version;
                }
            }
            else if (index.TryGetValue(path, out var stat) && stat.Kind == FileKind.File)
            {
                return stat.Version;
            }

            lowest ??= LowestLiveVersionUnder(index, remote);
            return lowest.TryGetValue(path, out var version) ? version : null;
        };
    }

    /// <summary>For each path live on the server (as this pass sees it) and each folder above one: the lowest version at or under it.</summary>
    private static Dictionary<string, ulong> LowestLiveVersionUnder(Dictionary<string, BaseStat> index, IReadOnlyDictionary<string, RemoteEntry> remote)
    {
        var lowest = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var (path, stat) in index)
        {
            if (!remote.ContainsKey(path))
            {
                Add(path, stat.Version);
            }
        }

        foreach (var (path, entry) in remote)
        {
            if (!entry.Deleted)
            {
                Add(path, entry.Version);
            }
        }

        return lowest;

        void Add(string path, ulong version)
        {
            for (var end = path.Length; end > 0; end = path.LastIndexOf('/', end - 1))
            {
                var at = path[..end];
                if (lowest.TryGetValue(at, out var seen) && seen <= version)
                {
                    break; // this folder and every one above it already hold a version at most this one
                }

                lowest[at] = version;
            }
        }
    }

    /// <summary>
    /// After the withheld lookup: the entries it added to <paramref name="remote"/> (<paramref name="injected"/>) were
    /// unknown when the scan queued new files and <see cref="ReadFacts"/> ran, so a new local name that differs only in
    /// case from one of them (or lies under a folder that does) is taken back from the new files and read as any other
    /// case clash (with <paramref name="readBefore"/>, the pass's first clashes, decided with them), rather than uploaded
    /// beside the looked-up path.
    /// </summary>
    public List<LocalCaseClash> ReadLookedUpFacts(LocalSnapshot snapshot, Dictionary<string, BaseStat> index, RemoteView remote, HashSet<string> injected, NewFiles newFiles, FolderWalkBudget budget, IReadOnlyList<LocalCaseClash> readBefore, CancellationToken ct)
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

        return ReadFacts(snapshot, index, remote, folds, budget, ct, withScanLosers: false, readBefore);
    }

    /// <summary>
    /// The facts of each local name that clashes in case (with another here, or with a live remote path it would be
    /// created beside), all read before any is acted on (<see cref="LocalCaseFacts.ReadAll"/>: a file's stability, a
    /// folder's walk on disk, what the server holds under it, the free names): the planner decides them
    /// (<see cref="PlanInput.LocalCaseClashes"/>, <see cref="LocalCaseRules.DecideAll"/>) and the executor renames them
    /// first (<see cref="LocalCaseRenames"/>). A name already read this pass (<paramref name="readBefore"/>) is not read again.
    /// </summary>
    public List<LocalCaseClash> ReadFacts(LocalSnapshot snapshot, Dictionary<string, BaseStat> index, RemoteView remote, Dictionary<string, string>? folds, FolderWalkBudget budget, CancellationToken ct, bool withScanLosers = true, IReadOnlyList<LocalCaseClash>? readBefore = null)
    {
        var renames = LocalCaseRules.Clashes(withScanLosers ? snapshot.CaseClashLosers : [], snapshot.Entries.Values, index, remote.Changes, folds);
        if (readBefore is { Count: > 0 })
        {
            var read = readBefore.Select(c => c.Path).ToHashSet(StringComparer.Ordinal);
            renames.RemoveAll(r => read.Contains(r.Path));
        }

        // A refusal counts toward the fallback only while its name keeps losing a clash, pass after pass: one that is no
        // loser now (the clash settled another way: a name deleted or renamed) is forgotten, so a later clash of the same
        // name waits a pass at its first refusal, as any does (the main call only: the lookup's has no scan losers).
        if (withScanLosers && _refusedOnServer.Count > 0)
        {
            var losers = renames.Select(r => r.Path).ToHashSet(StringComparer.Ordinal);
            if (_refusedOnServer.RemoveWhere(p => !losers.Contains(p)) > 0)
            {
                SaveRefusedOnServer();
            }
        }

        var scanLosers = withScanLosers ? snapshot.CaseClashLosers.Select(l => l.Path).ToHashSet(StringComparer.Ordinal) : [];
        var facts = new LocalCaseFacts(_ctx, _ctx.Stability(), budget, index, remote, scanLosers, _refusedOnServer, AfterFolderWalk);
        return Unsure(facts.ReadAll(renames, ct, readBefore), renames.Count == 0 ? [] : _ctx.State.Withheld.Load(), remote.Changes);
    }

    /// <summary>
    /// Leaves out of each clash's synced rows those whose path has a remote change remembered with the withheld paths
    /// (<paramref name="remembered"/>: skipped while withheld, so this pass's view of the server there is stale; a delete,
    /// most often, as the clash's own name is withheld): the server may no longer hold them, so their rows do not follow
    /// a rename (a row moved under the new name for a path the server had deleted claimed a file synced that the server
    /// never had, and it stayed here alone; found by the planner property test). Their files are new under the new name.
    /// Kept: a row whose path <paramref name="remote"/> (the view, with the remembered followed moves) shows moved by
    /// another device to exactly its path under the name the clash follows (<see cref="LocalCaseClash.MovedAwayTo"/>):
    /// withheld because that rename was not made yet, it follows the rename as it would have then (left out, its file was
    /// new under the new name and sent again, undoing what that device did there since).
    /// </summary>
    internal static List<LocalCaseClash> Unsure(List<LocalCaseClash> clashes, IReadOnlySet<string> remembered, IReadOnlyDictionary<string, RemoteEntry> remote)
    {
        if (remembered.Count == 0)
        {
            return clashes;
        }

        bool Stale(LocalCaseClash c, string p) => remembered.Contains(p)
            && !(c.MovedAwayTo is { } target && remote.TryGetValue(p, out var gone) && gone is { Deleted: true } && gone.MovedTo == target + p[c.Path.Length..]);
        return clashes.ConvertAll(c => c.SyncedUnder.Any(p => Stale(c, p)) ? c with { SyncedUnder = [.. c.SyncedUnder.Where(p => !Stale(c, p))] } : c);
    }

    /// <summary>
    /// The executor's word that the server refused to rename <paramref name="path"/> (see <see cref="LocalCaseRenames"/>):
    /// remembered (in the db) unless it is renamed here alone now (<paramref name="renamedHereAlone"/>, refused at its
    /// last try too), so the next pass that finds it losing renames it here alone.
    /// </summary>
    internal void RefusedOnServer(string path, bool renamedHereAlone)
    {
        if (renamedHereAlone)
        {
            RenamedNow(path);
            return;
        }

        if (_refusedOnServer.Count >= MaxRefusedOnServer && !_refusedOnServer.Contains(path))
        {
            _refusedOnServer.Clear();
        }

        _refusedOnServer.Add(path);
        SaveRefusedOnServer();
    }

    /// <summary>The executor's word that <paramref name="path"/> is being renamed now: no refusal of it is remembered any longer.</summary>
    internal void RenamedNow(string path)
    {
        if (_refusedOnServer.Remove(path))
        {
            SaveRefusedOnServer();
        }
    }

    /// <summary><c>dir/name (Case Conflict).ext</c>, then <c>(Case Conflict 2)</c>... the first <paramref name="isTaken"/> refuses.</summary>
    internal static string CaseConflictName(string path, Func<string, bool> isTaken) =>
        FreeCaseConflictName(path, isTaken) ?? throw new IOException(NoFreeNameMessage(path));

    /// <summary>As <see cref="CaseConflictName"/>; null when none of the first 10,000 is free.</summary>
    internal static string? FreeCaseConflictName(string path, Func<string, bool> isTaken)
    {
        var (head, extension) = CaseConflictNameParts(path);
        for (var n = 1; n < 10_000; n++)
        {
            var candidate = $"{head}{(n == 1 ? string.Empty : " " + n.ToString(System.Globalization.CultureInfo.InvariantCulture))}){extension}";
            if (!isTaken(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>
    /// What every case-conflict name of <paramref name="path"/> starts with (its folder, its stem and the marker) and ends
    /// with after the closing parenthesis (its extension): <c>stem (Case Conflict[ N]).ext</c>.
    /// </summary>
    internal static (string Head, string Extension) CaseConflictNameParts(string path)
    {
        var slash = path.LastIndexOf('/');
        var directory = slash >= 0 ? path[..(slash + 1)] : string.Empty;
        var name = slash >= 0 ? path[(slash + 1)..] : path;
        var dot = name.LastIndexOf('.');
        var (stem, extension) = dot > 0 ? (name[..dot], name[dot..]) : (name, string.Empty);
        return (directory + stem + CaseConflictMarker, extension);
    }

    internal static string NoFreeNameMessage(string path) => $"Could not find a free case-conflict name for '{path}' after 10000 tries; rename it by hand.";
}
