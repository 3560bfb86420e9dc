using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests.PlannerModel;

/// <summary>
/// The three trees of one client and the server it syncs with, in memory: the local folder (with paths the scan
/// withholds), the db (merge base) with its cursor, and a <see cref="ModelServer"/>. A pass scans, folds the feed,
/// plans with the real <see cref="SyncPlanner"/> and applies the plan as the engine's executor would if every
/// transfer succeeded ("pretend success"), keeping the executor's own checks against the server (stale base, a path
/// in the way), in the executor's phase order with the concurrent phases shuffled.
/// </summary>
internal sealed class ModelWorld
{
    private static readonly DateOnly Today = new(2026, 12, 1);

    public ModelServer Server { get; } = new();

    /// <summary>The local folder: every parent of a path is a folder here too.</summary>
    public SortedDictionary<string, LocalNode> Local { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Hidden leftovers of a stopped client, by holding path (in no other view): the scan reports each
    /// (<see cref="LocalSnapshot.Displaced"/>) and the plan removes or keeps it.
    /// </summary>
    public SortedDictionary<string, LeftoverNode> Leftovers { get; } = new(StringComparer.Ordinal);

    /// <summary>Paths the scan cannot take (an unreadable folder, a symbolic link): withheld with all under them.</summary>
    public HashSet<string> Unreadable { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Files whose read fails (no permission, an I/O error), with how many more reads fail: the engine's read of a changed
    /// settled file (LocalContent) gives no fingerprint but an <see cref="UnreadableFile"/> (see <see cref="TakeReadErrors"/>).
    /// </summary>
    public Dictionary<string, int> ReadErrors { get; } = new(StringComparer.Ordinal);

    /// <summary>The db's merge base.</summary>
    public Dictionary<string, FileRecord> Base { get; } = new(StringComparer.Ordinal);

    /// <summary>The stored cursor (a sequence); null: the next pass lists everything.</summary>
    public ulong? Cursor { get; set; }

    /// <summary>
    /// The engine's withheld table (WithheldPaths.cs): paths whose skipped remote change (withheld here, at or
    /// under a kind clash) the cursor moved past; each pass looks up their remote state again until it applies.
    /// </summary>
    public HashSet<string> WithheldTable { get; } = new(StringComparer.Ordinal);

    /// <summary>What each pass planned and what the executor could not do, for the failure report.</summary>
    public List<string> Trace { get; } = [];

    private long _clock = 1000;
    private int _nextContent = 1;
    private int _renames;

    public ModelWorld(TimeSpan stableAge = default) => Stability = new Stability(new ModelClock(this), stableAge, null, TimeSpan.Zero);

    /// <summary>
    /// The real stability rule over the model's clock (<see cref="Tick"/> and <see cref="Advance"/>): the scan's
    /// observation of each file, as <c>LocalScanner</c> and <see cref="NewFiles"/> take it.
    /// </summary>
    public Stability Stability { get; }

    public int NewContent() => _nextContent++;

    /// <summary>Another program made a case-conflict rename's new name right before it, once this case (<see cref="ModelExecutor"/>).</summary>
    public bool RenameTargetTaken { get; set; }

    /// <summary>How many more passes a followed case-conflict rename here fails (<see cref="ModelExecutor"/>); -1: not drawn yet this case.</summary>
    public int FollowedFailuresLeft { get; set; } = -1;

    /// <summary>The clock moves on by one write; every local write is stamped with it.</summary>
    public long Tick() => _clock += 10;

    /// <summary>Time passes with nothing written (the daemon's wait for its re-check).</summary>
    public void Advance(TimeSpan by) => _clock += by.Ticks;

    public static string Parent(string path) => SyncPaths.Parent(path);

    public static string Name(string path) => path[(path.LastIndexOf('/') + 1)..];

    public bool LocalHasChildren(string folder) => Local.Keys.Any(p => p.StartsWith(folder + "/", StringComparison.Ordinal));

    /// <summary>mkdir -p then write: false where a file sits on the way or a folder at the path (the write fails).</summary>
    public bool LocalWrite(string path, int content, long? mtime = null)
    {
        if (!LocalMakeParents(path) || (Local.TryGetValue(path, out var there) && there.Kind == ModelKind.Folder))
        {
            return false;
        }

        Local[path] = new LocalNode(ModelKind.File, content, mtime ?? Tick());
        return true;
    }

    public bool LocalMakeFolder(string path)
    {
        if (!LocalMakeParents(path) || (Local.TryGetValue(path, out var there) && there.Kind == ModelKind.File))
        {
            return false;
        }

        Local.TryAdd(path, new LocalNode(ModelKind.Folder, 0, 0));
        return true;
    }

    public void LocalRemoveTree(string path)
    {
        foreach (var p in Local.Keys.Where(p => p == path || p.StartsWith(path + "/", StringComparison.Ordinal)).ToList())
        {
            Local.Remove(p);
            Unreadable.Remove(p);
            ReadErrors.Remove(p);
        }

        foreach (var p in Leftovers.Keys.Where(p => p.StartsWith(path + "/", StringComparison.Ordinal)).ToList())
        {
            Leftovers.Remove(p);
        }
    }

    /// <summary>A rename: the path and everything under it, sizes and mtimes kept.</summary>
    public void LocalMove(string from, string to)
    {
        foreach (var old in Local.Keys.Where(k => k == from || k.StartsWith(from + "/", StringComparison.Ordinal)).ToList())
        {
            var node = Local[old];
            Local.Remove(old);
            Local[to + old[from.Length..]] = node;
            if (Unreadable.Remove(old))
            {
                Unreadable.Add(to + old[from.Length..]);
            }

            if (ReadErrors.Remove(old, out var failures))
            {
                ReadErrors[to + old[from.Length..]] = failures;
            }
        }

        foreach (var old in Leftovers.Keys.Where(k => k.StartsWith(from + "/", StringComparison.Ordinal)).ToList())
        {
            var node = Leftovers[old];
            Leftovers.Remove(old);
            Leftovers[to + old[from.Length..]] = node with { Original = node.Original is { } o ? to + o[from.Length..] : null };
        }
    }

    /// <summary>
    /// A sibling name of <paramref name="path"/> that no path here, remotely (live or deleted) or in the db takes or
    /// differs from only in case, nor has anything under it: where the user renames one side of a clash to.
    /// </summary>
    public string FreshName(string path)
    {
        var taken = Local.Keys.Concat(Server.Live.Keys).Concat(Server.Tombstones.Keys).Concat(Base.Keys).Select(SyncPaths.CaseFoldKey).ToList();
        for (; ; )
        {
            var candidate = path + " (renamed " + ++_renames + ")";
            var key = SyncPaths.CaseFoldKey(candidate);
            if (!taken.Any(t => t == key || t.StartsWith(key + "/", StringComparison.Ordinal)))
            {
                return candidate;
            }
        }
    }

    private bool LocalMakeParents(string path)
    {
        var parents = new List<string>();
        for (var p = Parent(path); p.Length > 0; p = Parent(p))
        {
            parents.Add(p);
        }

        parents.Reverse();
        foreach (var p in parents)
        {
            if (Unreadable.Contains(p))
            {
                return false; // the executor's WritePath refuses a link or unreadable folder on the way
            }

            if (Local.TryGetValue(p, out var node))
            {
                if (node.Kind == ModelKind.File)
                {
                    return false;
                }
            }
            else
            {
                Local[p] = new LocalNode(ModelKind.Folder, 0, 0);
            }
        }

        return true;
    }

    /// <summary>The names whose case-conflict rename the server refused at their last try (the engine's CaseConflicts memory).</summary>
    public HashSet<string> CaseRefused { get; } = new(StringComparer.Ordinal);

    /// <summary>The db's version of a path (null: no row).</summary>
    private ulong? SyncedVersion(string path) => Base.TryGetValue(path, out var row) ? row.Version : null;

    /// <summary>The remote changes at the names of followed case-conflict renames not made (the engine's <see cref="FollowedCaseMoves"/>), put back in each view.</summary>
    public List<RemoteEntry> FollowedMoves { get; set; } = [];

    /// <summary>
    /// What <c>LocalCaseFacts.ReadAll</c> reads of each local name that clashes in case (<see cref="LocalCaseRules.Clashes"/>
    /// over the scan's losers and the names that clash with a live remote one), from the model's folder: whether a loser
    /// follows the server's delete, its stability (a folder's: every file under it), what the server holds under it, the
    /// name the server moved it to, and the free "(Case Conflict)" names, one more for each earlier clash of the same name.
    /// </summary>
    public List<LocalCaseClash> CaseFacts(LocalSnapshot snapshot, Dictionary<string, BaseStat> index, RemoteView remote)
    {
        var renames = LocalCaseRules.Clashes(snapshot.CaseClashLosers, snapshot.Entries.Values, index, remote.Changes, SyncPlanner.RemoteFolds(remote.Changes));
        var losers = snapshot.CaseClashLosers.Select(l => l.Path).ToHashSet(StringComparer.Ordinal);
        var takenFolds = index.Keys.Concat(remote.Changes.Keys).Select(SyncPaths.CaseFoldKey).ToHashSet(StringComparer.Ordinal);
        var localFolds = Local.Keys.Select(SyncPaths.CaseFoldKey).ToHashSet(StringComparer.Ordinal);
        var before = new Dictionary<string, int>(StringComparer.Ordinal);
        var facts = new List<LocalCaseClash>();
        foreach (var (path, isDirectory) in renames)
        {
            var fold = SyncPaths.CaseFoldKey(path);
            before.TryGetValue(fold, out var same);
            before[fold] = same + 1;
            var loser = losers.Contains(path);
            var node = Local.GetValueOrDefault(path);
            var clash = new LocalCaseClash(path, isDirectory) { Synced = index.TryGetValue(path, out var synced) ? synced : null, RefusedBefore = CaseRefused.Contains(path) };
            var asSynced = node is { Kind: ModelKind.File } && index.TryGetValue(path, out var row) && row.Kind == FileKind.File && row.Size == ModelServer.Size(node.Content) && row.MtimeTicks == node.MtimeTicks;
            if (!isDirectory && loser && asSynced && remote.Changes.TryGetValue(path, out var change) && change.Deleted
                && change.MovedTo?.Contains(CaseConflicts.CaseConflictMarker, StringComparison.Ordinal) != true)
            {
                facts.Add(clash with { FollowsServer = new LocalEntry(path, FileKind.File, ModelServer.Size(node!.Content), node.MtimeTicks, SettlesIn: null) });
                continue;
            }

            if (isDirectory)
            {
                var settlesIn = Local.Where(kv => kv.Value.Kind == ModelKind.File && kv.Key.StartsWith(path + "/", StringComparison.Ordinal))
                    .Select(kv => Stability.SettlesIn(kv.Key, kv.Value.MtimeTicks)).Where(t => t is not null).DefaultIfEmpty().Max();
                clash = clash with { Walk = new FolderObservation(settlesIn, null) };
            }
            else
            {
                clash = clash with { SettlesIn = node is null || asSynced ? null : Stability.SettlesIn(path, node.MtimeTicks) };
            }

            // Read for a name that waits too (LocalCaseFacts.Read): its wait follows the server's move.
            var movedAway = LocalCaseFacts.MovedAwayTo(path, index, remote.Changes);
            clash = clash with { MovedAwayTo = movedAway, MovedAwayTaken = movedAway is not null && localFolds.Contains(SyncPaths.CaseFoldKey(movedAway)) };
            if (LocalCaseRules.WaitsToRename(clash))
            {
                facts.Add(clash);
                continue;
            }

            var found = new List<string>();
            for (var n = 0; n < same + 1; n++)
            {
                if (CaseConflicts.FreeCaseConflictName(path, p => found.Any(f => SyncPaths.CaseFoldKey(f) == SyncPaths.CaseFoldKey(p)) || index.ContainsKey(p) || remote.Changes.ContainsKey(p)
                    || takenFolds.Contains(SyncPaths.CaseFoldKey(p)) || localFolds.Contains(SyncPaths.CaseFoldKey(p))) is not { } free)
                {
                    break;
                }

                found.Add(free);
            }

            facts.Add(clash with
            {
                OnServer = loser ? LocalCaseFacts.LiveOnServer(path, index, remote.Changes) : [],
                SyncedUnder = loser || movedAway is not null ? [.. index.Keys.Where(p => LocalCaseFacts.Under(p, path)).Order(StringComparer.Ordinal)] : [],
                Scanned = node is { Kind: ModelKind.File } ? new LocalEntry(path, FileKind.File, ModelServer.Size(node.Content), node.MtimeTicks, clash.SettlesIn) : null,
                FreeName = found.Count > 0 ? found[0] : null,
                MoreFreeNames = found.Count > 1 ? found[1..] : [],
            });
        }

        return CaseConflicts.Unsure(facts, WithheldTable, remote.Changes);
    }

    /// <summary>What <c>LocalScanner.Scan</c> finds: siblings in ordinal order, the later of a case clash withheld.</summary>
    public LocalSnapshot Scan()
    {
        var snapshot = new LocalSnapshot();
        var children = Local.Keys.ToLookup(Parent, StringComparer.Ordinal);
        ScanFolder(string.Empty, children, snapshot);
        return snapshot;
    }

    private void ScanFolder(string folder, ILookup<string, string> children, LocalSnapshot snapshot)
    {
        var folded = new Dictionary<string, string>(StringComparer.Ordinal);
        var hasChildren = false;
        foreach (var path in children[folder].Order(StringComparer.Ordinal))
        {
            var node = Local[path];
            if (node.Kind == ModelKind.File && Unreadable.Contains(path))
            {
                snapshot.Withheld.Add(path); // a symbolic link
                continue;
            }

            var key = SyncPaths.CaseFoldKey(Name(path));
            if (folded.TryGetValue(key, out var other))
            {
                snapshot.CaseClashes.Add($"'{path}' and '{other}'");
                snapshot.CaseClashLosers.Add((path, node.Kind == ModelKind.Folder));
                snapshot.Withheld.Add(path);
                continue;
            }

            folded[key] = path;
            hasChildren = true;
            if (node.Kind == ModelKind.Folder)
            {
                snapshot.Entries[path] = LocalEntry.Folder(path);
                if (Unreadable.Contains(path))
                {
                    snapshot.Withheld.Add(path); // listed by its parent, then unreadable
                }
                else
                {
                    ScanFolder(path, children, snapshot);
                }
            }
            else
            {
                snapshot.Entries[path] = new LocalEntry(path, FileKind.File, ModelServer.Size(node.Content), node.MtimeTicks, Stability.SettlesIn(path, node.MtimeTicks));
            }
        }

        // As the scanner: a leftover is reported, never an entry, and does not make its folder non-empty.
        foreach (var (holding, leftover) in Leftovers.Where(kv => Parent(kv.Key) == folder))
        {
            snapshot.Displaced.Add((holding, leftover.Original));
        }

        if (!hasChildren && folder.Length > 0)
        {
            snapshot.EmptyFolders.Add(folder);
        }
    }

    /// <summary>
    /// What the engine reads of each leftover the scan reported (<see cref="DisplacedFacts.ReadAsync"/>), through the real
    /// <see cref="DisplacedFacts.Of"/>: its content, the db's rows and what is here at each, the remote view.
    /// </summary>
    public List<DisplacedFile> Displaced(LocalSnapshot snapshot, RemoteView remote)
    {
        var index = Index();
        return snapshot.Displaced.Select(d =>
        {
            var node = Leftovers[d.Path];
            var read = new FileFingerprint(ModelServer.Size(node.Content), node.MtimeTicks, [], ModelServer.Hash(node.Content));
            return DisplacedFacts.Of(d.Path, d.OriginalPath, read, index, p => Base.GetValueOrDefault(p), FoundAt, remote.Changes, Stability);
        }).ToList();
    }

    /// <summary>What is at a synced path here, against its synced stamp (the model keeps no ctime).</summary>
    private FoundHere FoundAt(string path, BaseStat stat) =>
        !Local.TryGetValue(path, out var node) ? FoundHere.Nothing
        : node.Kind == ModelKind.Folder ? FoundHere.NotAFile
        : ModelServer.Size(node.Content) == stat.Size && node.MtimeTicks == stat.MtimeTicks ? FoundHere.AsSynced
        : FoundHere.Changed;

    /// <summary>
    /// The content of every file whose size or mtime differ from a file record, settled or not (the engine reads only the
    /// settled ones): the planner must wait for an unsettled file whatever was read of it.
    /// </summary>
    public Dictionary<string, FileFingerprint> Fingerprints(LocalSnapshot snapshot)
    {
        var result = new Dictionary<string, FileFingerprint>(StringComparer.Ordinal);
        foreach (var entry in snapshot.Entries.Values)
        {
            if (entry.Kind != FileKind.File)
            {
                continue;
            }

            var unchanged = Base.TryGetValue(entry.Path, out var b) && b.Kind == FileKind.File && b.Size == entry.Size && b.MtimeTicks == entry.MtimeTicks;
            if (!unchanged)
            {
                result[entry.Path] = new FileFingerprint(entry.Size, entry.MtimeTicks, [], ModelServer.Hash(Local[entry.ReadAt ?? entry.Path].Content));
            }
        }

        return result;
    }

    /// <summary>
    /// LocalContent's read of the changed settled files: a file of <see cref="ReadErrors"/> that the pass reads fails (one
    /// fewer failure left) and is handed to the planner as unreadable, re-checked after <paramref name="recheck"/>, with no
    /// fingerprint. Files still settling are not read.
    /// </summary>
    public Dictionary<string, UnreadableFile> TakeReadErrors(LocalSnapshot snapshot, Dictionary<string, FileFingerprint> fingerprints, TimeSpan recheck)
    {
        var unreadable = new Dictionary<string, UnreadableFile>(StringComparer.Ordinal);
        foreach (var path in fingerprints.Keys.Where(p => ReadErrors.ContainsKey(p) && snapshot.Entries.TryGetValue(p, out var e) && e.SettlesIn is null).ToList())
        {
            fingerprints.Remove(path);
            unreadable[path] = new UnreadableFile("model read error", recheck);
            if (--ReadErrors[path] == 0)
            {
                ReadErrors.Remove(path);
            }
        }

        return unreadable;
    }

    /// <summary>The deletes before a case-conflict move the last <see cref="Fetch"/> put at the new name (<see cref="DeletesBeforeCaseMoves"/>).</summary>
    public int DeletesPutAtNewName { get; private set; }

    /// <summary>
    /// The deletes the last <see cref="Fetch"/> put in its view at paths the server never held (remembered ones, and those put
    /// at a new name): as the engine, those a pass leaves withheld are remembered on (<see cref="FollowedCaseMoves.StillWithheld"/>).
    /// </summary>
    public List<RemoteEntry> Carried { get; private set; } = [];
    /// <summary>The remote view: the feed after the cursor folded by the real code (echoes of the synced state dropped), or a full listing.</summary>
    public RemoteView Fetch()
    {
        var changes = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal);
        if (Cursor is not { } cursor)
        {
            foreach (var entry in Server.Listing())
            {
                changes[entry.Path] = RemoteEntry.From(entry, entry.Deleted, entry.Version);
            }

            Carried = FollowedCaseMoves.AddTo(FollowedMoves, changes, SyncedVersion); // as the engine, before anything reads the view
            // SyncEngine.ReconcileBases: a row the server never heard of is forgotten (treated as new), never deleted.
            foreach (var path in Base.Keys.Where(p => !changes.ContainsKey(p)).ToList())
            {
                Base.Remove(path);
            }

            return new RemoteView(changes, Server.Head.ToString(System.Globalization.CultureInfo.InvariantCulture), FullListing: true);
        }

        var page = Server.ChangesAfter(cursor).ToList();
        var refusals = new Refusals();
        RemoteChanges.Apply(changes, page, refusals);
        RemoteChanges.DropSynced(changes, page, e => Base.TryGetValue(e.Path, out var b) && b.Kind == e.Kind && b.Version == e.Version);
        Carried = FollowedCaseMoves.AddTo(FollowedMoves, changes, SyncedVersion);
        var putAtNewName = DeletesBeforeCaseMoves.Apply(changes, SyncedVersion); // as the engine
        DeletesPutAtNewName = putAtNewName.Count;
        Carried.AddRange(putAtNewName);
        if (refusals.Messages.Count > 0)
        {
            throw new InvalidOperationException("the model server sent a path the client refuses: " + string.Join("; ", refusals.Messages));
        }

        return new RemoteView(changes, Server.Head.ToString(System.Globalization.CultureInfo.InvariantCulture), FullListing: false);
    }

    /// <summary>
    /// WithheldPaths.ReexamineWithheldAsync: every stored path not withheld now and not in this pass's changes gets its
    /// current remote state, unless that is what the db holds (or a delete of a path the db does not know). A full
    /// listing's paths are in its changes already, and are decided as looked-up ones are (see <see cref="RememberWithheld"/>).
    /// (The model's tables never hold more than WithheldPaths.MaxWithheldLookups paths: one lookup each.)
    /// </summary>
    public (HashSet<string> Keep, HashSet<string> Injected) Reexamine(LocalSnapshot snapshot, RemoteView remote)
    {
        var keep = new HashSet<string>(StringComparer.Ordinal);
        var injected = new HashSet<string>(StringComparer.Ordinal);
        _listed.Clear();
        foreach (var path in WithheldTable)
        {
            if (snapshot.IsWithheld(path))
            {
                keep.Add(path);
                continue;
            }

            if (remote.FullListing && remote.Changes.ContainsKey(path))
            {
                _listed.Add(path);
                continue;
            }

            if (remote.FullListing || remote.Changes.ContainsKey(path) || Server.EntryOf(path) is not { } found)
            {
                continue;
            }

            var entry = RemoteEntry.From(found, found.Deleted, found.Version);
            var known = Base.TryGetValue(path, out var record);
            if (known ? !entry.Deleted && entry.Kind == record!.Kind && entry.Version == record.Version : entry.Deleted)
            {
                continue;
            }

            remote.Changes[path] = entry;
            injected.Add(path);
        }

        return (keep, injected);
    }

    /// <summary>The withheld paths the last pass's full listing held (see <see cref="Reexamine"/>).</summary>
    private readonly HashSet<string> _listed = new(StringComparer.Ordinal);

    /// <summary>WithheldPaths.RememberWithheld: what the table holds after a pass.</summary>
    public void RememberWithheld(HashSet<string> keep, HashSet<string> injected, List<SyncAction> plan, bool errors)
    {
        var pending = keep;
        injected = [.. injected, .. _listed];
        foreach (var action in plan)
        {
            if ((action.Kind == SyncActionKind.Skip && (action.Reason == SyncPlanner.WithheldReason || injected.Contains(action.Path)
                || (action.Remote is not null && action.Reason is SyncPlanner.KindClashReason or SyncPlanner.UnderKindClashReason or SyncPlanner.FolderWaitsReason)))
                || (action.Kind == SyncActionKind.Wait && injected.Contains(action.Path))
                || (action.Kind == SyncActionKind.Wait && action.Reason == SyncPlanner.UnreadableReason && action.Remote is not null))
            {
                pending.Add(action.Path);
            }
        }

        if (errors)
        {
            pending.UnionWith(WithheldTable);
        }

        WithheldTable.Clear();
        WithheldTable.UnionWith(pending);
    }

    /// <summary>The db as the engine's index of base stats (what the new-file and new-download shortcuts read).</summary>
    public Dictionary<string, BaseStat> Index() =>
        Base.Values.ToDictionary(r => r.Path, r => new BaseStat(r.Kind, r.Size, r.MtimeTicks, r.Version), StringComparer.Ordinal);

    /// <summary>Conflicted copy names from the real <see cref="ConflictNames"/>, free on every side.</summary>
    public string ConflictName(string path) =>
        ConflictNames.Next(path, "model", Today, p => Local.ContainsKey(p) || Base.ContainsKey(p) || Server.Live.ContainsKey(p) || Server.Tombstones.ContainsKey(p));

    public FileRecord FileRecordOf(string path, ulong version)
    {
        var node = Local[path];
        return new FileRecord(path, FileKind.File, ModelServer.Size(node.Content), node.MtimeTicks, version, ModelServer.Hash(node.Content));
    }

    /// <summary>The model's clock as a <see cref="TimeProvider"/> (its ticks are DateTime ticks).</summary>
    private sealed class ModelClock(ModelWorld world) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => new(world._clock, TimeSpan.Zero);
    }
}
