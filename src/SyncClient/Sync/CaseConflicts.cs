using Dropbox.Shared.Errors;
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
/// One per engine: the losers the server refused to rename (<see cref="_refusedOnServer"/>) are remembered across its passes.
/// A new remote file that clashes is the planner's (<see cref="NewRemoteCaseRules"/>).
/// The engine's pass calls it with what it found (snapshot, index, remote view); it changes the snapshot (renamed names,
/// withheld ones), adds notes to the summary and returns the planner's waits for names still being written.
/// It decides nothing itself: for each clash the facts (<see cref="LocalCaseFacts"/>) go to the rule
/// (<see cref="LocalCaseRules"/>), and it applies the outcome, the snapshot edited by <see cref="LocalCaseSnapshot"/>.
/// </summary>
/// <remarks>
/// Still before the plan (issue 14 wants planner steps the executor runs first). Done towards it: all clashes' facts are
/// read before any is renamed and decided at once (<see cref="LocalCaseRules.DecideAll"/>, the rule taking its own picks
/// case-folded), and each rename is looked at again right before it (<see cref="LocalCaseRules.Recheck"/>: the file's
/// stat, the folder's changes since its walk), a change a wait. What still keeps them here: <see cref="MoveRows"/> edits
/// the db and the pass's index before the bases are loaded (and <see cref="NewRemoteCaseRules.Decide"/> and
/// <see cref="PlannerFastPaths.TakeNewDownloads"/> read that index); a file renamed here alone is hashed by the pass under
/// its new name, which a plan made first would read at the old one; and a refusal on the server, or a failed rename, must
/// then turn the plan's steps under the new name into waits. <see cref="LocalCaseSnapshot.Apply"/> is the snapshot
/// transform such a plan would use. What could move first, at no pass of latency: a folder's rename and a rename on the
/// server (or following the server's), since nothing under either name is taken this pass whichever way it goes (the
/// snapshot edit, both names withheld, is known before the plan; <see cref="MoveRows"/> then writes only the db, from
/// the rows under the name read before the plan); a file renamed here alone is taken this pass under its new name, so
/// as a planner step it would cost a pass (or need the pass to hash it at its old name and send it from its new one).
/// </remarks>
internal sealed class CaseConflicts
{
    private readonly SyncContext _ctx;

    public CaseConflicts(SyncContext ctx)
    {
        _ctx = ctx;
        _refusedOnServer = LoadRefusedOnServer(ctx.State.GetSetting(StateKeys.CaseRefusedOnServer));
    }

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
    /// Clash losers whose rename on the server was refused at their last try (see <see cref="ResolveAsync"/>), kept in the
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
    /// unknown when the scan queued new files and <see cref="ResolveAsync"/> ran, so a new local name that
    /// differs only in case from one of them (or lies under a folder that does) is taken back from the new files and
    /// renamed as any other case clash, rather than uploaded beside the looked-up path.
    /// </summary>
    public async Task<List<SyncAction>> ResolveWithLookedUpAsync(LocalSnapshot snapshot, Dictionary<string, BaseStat> index, RemoteView remote, HashSet<string> injected, NewFiles newFiles, SyncSummary summary, FolderWalkBudget budget, CancellationToken ct)
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

        return await ResolveAsync(snapshot, index, remote, folds, summary, budget, ct, withScanLosers: false).ConfigureAwait(false);
    }

    /// <summary>
    /// Renames each local name that clashes in case (with another here, or with a live remote path it would be
    /// created beside) to a <c>(Case Conflict)</c> name and takes it under that name in this pass, unless the rule says
    /// it waits (<see cref="LocalCaseRules.DecideAll"/>, over the facts <see cref="LocalCaseFacts"/> reads of all clashes
    /// first: a file's stability, a folder's walk on disk; and <see cref="LocalCaseRules.Recheck"/> right before each
    /// rename): then it is withheld and its wait is returned, for the plan. A clash's loser the server holds (both names there) is
    /// renamed on the server first, each path with the version this pass saw (a device that renames it second is refused
    /// and follows next pass), then here with its rows; one whose synced paths the server already moved to a
    /// <c>(Case Conflict)</c> name follows them there. Neither is taken this pass; the next finds it synced under its
    /// new name. No device renames a name another device's rename made merely because its own pick differed.
    /// </summary>
    public async Task<List<SyncAction>> ResolveAsync(LocalSnapshot snapshot, Dictionary<string, BaseStat> index, RemoteView remote, Dictionary<string, string>? folds, SyncSummary summary, FolderWalkBudget budget, CancellationToken ct, bool withScanLosers = true)
    {
        var waits = new List<SyncAction>();
        var renames = LocalCaseRules.Clashes(withScanLosers ? snapshot.CaseClashLosers : [], snapshot.Entries.Values, index, remote.Changes, folds);

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
        var stability = _ctx.Stability();
        var facts = new LocalCaseFacts(_ctx, stability, budget, index, remote, scanLosers, _refusedOnServer, AfterFolderWalk);

        // Every clash's facts are read, and all are decided at once, before any is renamed: the rule takes the names its
        // own earlier picks take (case-folded). What a rename must see fresh is looked at again right before it.
        var clashes = facts.ReadAll(renames, ct);
        var outcomes = LocalCaseRules.DecideAll(clashes);
        foreach (var outcome in outcomes)
        {
            switch (outcome.Kind)
            {
                case LocalCaseOutcomeKind.FollowServer:
                    LocalCaseSnapshot.Apply(snapshot, outcome, LocalCaseApplied.FollowedServer);
                    break;
                case LocalCaseOutcomeKind.Wait:
                    Wait(outcome, snapshot, waits);
                    break;
                case LocalCaseOutcomeKind.NoFreeName:
                    throw new IOException(NoFreeNameMessage(outcome.Path));
                default:
                    // Right before the rename (and the server's): gone here meanwhile, or its new name made here, it is
                    // left alone a pass (a server move then would undo a delete here, or strand the server's copy under a
                    // name taken here).
                    if (facts.CannotRenameNow(outcome) is { } why)
                    {
                        summary.AddNote($"case conflict: '{outcome.Path}' is not renamed to '{outcome.Target}' this pass: {why}; looked at again next pass");
                        LocalCaseSnapshot.Apply(snapshot, outcome, LocalCaseApplied.LeftAlone);
                        summary.AddPending();
                        summary.RecheckWithin(TimeSpan.Zero);
                        break;
                    }

                    // Right before the rename (and before the server's): a file written since its facts were read, or a
                    // folder in which a name was made or removed since its walk, waits as it would have then.
                    if (LocalCaseRules.Recheck(outcome, outcome.IsDirectory ? null : facts.SettlesInNow(outcome.Path),
                        outcome.IsDirectory && outcome.Walked.Count > 0 ? stability.FolderChangedSinceWalk(outcome.Walked) : null) is { } changed)
                    {
                        Wait(changed, snapshot, waits);
                        break;
                    }

                    // (A folder in which an earlier rename of the pass was made finds its own mtime moved: it waits a pass, as
                    // it did when its walk was read after that rename and found the folder just changed.)
                    await RenameAsync(outcome, snapshot, index, remote, stability, summary, ct).ConfigureAwait(false);
                    break;
            }
        }

        return waits;
    }

    /// <summary>A clash that waits: withheld until it settles (a folder with all under it); the plan reports the wait and the daemon comes back for it then.</summary>
    private void Wait(LocalCaseOutcome outcome, LocalSnapshot snapshot, List<SyncAction> waits)
    {
        if (outcome.Log is { } log)
        {
            _ctx.Progress.Log(log);
        }

        waits.Add(outcome.Wait!);
        LocalCaseSnapshot.Apply(snapshot, outcome, LocalCaseApplied.LeftAlone);
    }

    /// <summary>
    /// Applies the rule's rename of <paramref name="outcome"/>. Both names on the server (this one lost by the server's
    /// versions, so every device that sees the same server picks it): renamed there first, each path with the version
    /// this pass saw, so a second device renaming it too is refused instead of renaming it again; then here, its rows
    /// moved with it. Refused (changed or moved meanwhile: the next pass's listing shows how, and it follows), it waits a
    /// pass; refused again, the rows this pass took for the server's were stale (a path gone there that no listing will
    /// show again): it is renamed here alone, as a name only here is, and the next pass matches its files by content
    /// (never a retry forever).
    /// </summary>
    private async Task RenameAsync(LocalCaseOutcome outcome, LocalSnapshot snapshot, Dictionary<string, BaseStat> index, RemoteView remote, Stability stability, SyncSummary summary, CancellationToken ct)
    {
        var (path, isDirectory, target, onServer) = (outcome.Path, outcome.IsDirectory, outcome.Target!, outcome.OnServer);
        var movedVersions = new Dictionary<string, (ulong Version, byte[] ContentHash)>(StringComparer.Ordinal);
        var renamedOnServer = onServer.Count > 0;
        if (renamedOnServer && await MoveOnServerAsync(path, target, onServer, movedVersions, summary, ct).ConfigureAwait(false) is { } refused)
        {
            renamedOnServer = false;
            if (_refusedOnServer.Count >= MaxRefusedOnServer && !_refusedOnServer.Contains(path))
            {
                _refusedOnServer.Clear();
            }

            _refusedOnServer.Add(path);
            if (!outcome.HereAloneIfRefused)
            {
                SaveRefusedOnServer();
                summary.AddNote($"case conflict: '{path}' differs only in case from another name; it could not be renamed to '{target}' on the server ({refused}); tried again next pass");
                LocalCaseSnapshot.Apply(snapshot, outcome, LocalCaseApplied.LeftAlone); // a scan's loser: a folder has nothing under it in the snapshot (not entered)
                summary.AddPending();
                summary.RecheckWithin(TimeSpan.Zero);
                return;
            }
        }

        if (_refusedOnServer.Remove(path))
        {
            SaveRefusedOnServer();
        }

        _ctx.Step?.Invoke($"before case-conflict rename {path} -> {target}");
        try
        {
            if (isDirectory)
            {
                Directory.Move(_ctx.FullPath(path), _ctx.FullPath(target));
            }
            else
            {
                File.Move(_ctx.FullPath(path), _ctx.FullPath(target), overwrite: false);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left alone, a folder with all under it: its files sent under the old name would make on the server the very
            // clash the rename was for (before, a new 'docs/a.txt' went up beside 'Docs').
            // Pending, with a re-check: a passing cause (the new name made meanwhile) clears at the next pass, and neither
            // `sync --once` nor the daemon calls the folder done while its files are only here.
            // Moved on the server already (the new name made here during that move): moved back, conditionally. Left
            // there, the server's copy came down onto the name taken here, the file made here becoming a conflicted copy,
            // while the loser here was renamed again: its content twice.
            var undone = movedVersions.Count == 0 ? string.Empty
                : await MoveBackOnServerAsync(path, target, movedVersions, ct).ConfigureAwait(false) is { } kept
                    ? $"; its move on the server stays ({kept})"
                    : "; moved back on the server";
            summary.AddNote($"case conflict: could not rename '{path}' to '{target}' ({e.Message}){undone}; left alone this pass, tried again next pass");
            LocalCaseSnapshot.Apply(snapshot, outcome, LocalCaseApplied.LeftAlone);
            summary.AddPending();
            summary.RecheckWithin(TimeSpan.Zero);
            return;
        }

        _ctx.Step?.Invoke($"after case-conflict rename {path} -> {target}");
        var note = $"case conflict: '{path}' differs only in case from another name; renamed to '{target}' so both sync";
        summary.AddNote(note);
        _ctx.Progress.Log(note);
        if (renamedOnServer || outcome.Followed)
        {
            // Renamed on the server too: the rows follow the name (after the rename here: a crash between leaves rows
            // at the old name and files at the new, which the next pass matches by content, never a delete). Nothing
            // under either name is taken this pass; the next finds the files as synced under the new one.
            MoveRows(path, target, index, renamedOnServer ? onServer.Select(l => l.Path).ToHashSet(StringComparer.Ordinal) : [], movedVersions, remote.Changes);
            LocalCaseSnapshot.Apply(snapshot, outcome, LocalCaseApplied.RenamedWithRows);
            return;
        }

        LocalCaseSnapshot.Apply(snapshot, outcome, LocalCaseApplied.Renamed, renamed =>
        {
            var info = new FileInfo(_ctx.FullPath(renamed));
            return new LocalEntry(renamed, FileKind.File, info.Length, info.LastWriteTimeUtc.Ticks, stability.SettlesIn(renamed, info.LastWriteTimeUtc.Ticks));
        });
    }

    /// <summary>
    /// Moves each of <paramref name="live"/> from under <paramref name="path"/> to under <paramref name="target"/> on the
    /// server, with the version seen (a folder with an entry of its own moves with everything under it). Null when every
    /// move was made; else why the server refused one (changed or moved meanwhile, or the name taken there): the rest
    /// waits for the next pass, which sees what the server holds then.
    /// </summary>
    private async Task<string?> MoveOnServerAsync(string path, string target, IReadOnlyList<(string Path, ulong Version)> live, Dictionary<string, (ulong Version, byte[] ContentHash)> versions, SyncSummary summary, CancellationToken ct)
    {
        var movedFolders = new List<string>();
        foreach (var (from, version) in live)
        {
            if (movedFolders.Exists(f => LocalCaseFacts.Under(from, f)))
            {
                continue; // moved with its folder
            }

            var to = target + from[path.Length..];
            try
            {
                var moved = await _ctx.Metadata.MoveFileAsync(new MoveFileRequest { FromPath = from, ToPath = to, BaseVersion = version, Device = _ctx.Device }, ct).ConfigureAwait(false);
                if (moved.Entry?.Kind == EntryKind.Folder)
                {
                    movedFolders.Add(from);
                }

                versions[to] = (moved.Entry?.Version is > 0 ? moved.Entry.Version : moved.Sequence, moved.Entry?.ContentHash.ToByteArray() ?? []);

                summary.AddFileMoved();
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.Conflict or ErrorKind.NotFound or ErrorKind.AlreadyExists)
            {
                return e.Message;
            }
        }

        return null;
    }

    /// <summary>
    /// Undoes the moves <see cref="MoveOnServerAsync"/> made (<paramref name="moved"/>, by new path, with the versions they
    /// made) when the rename here failed after them: each moved back only if it is still at the version its move made,
    /// so nothing another device did since is undone. Null when every one was moved back; else why the server refused
    /// one: that one stays (the others are still tried), and the next pass finds the server as after a crash between
    /// the two renames.
    /// </summary>
    private async Task<string?> MoveBackOnServerAsync(string path, string target, Dictionary<string, (ulong Version, byte[] ContentHash)> moved, CancellationToken ct)
    {
        string? refused = null;
        foreach (var (to, (version, _)) in moved.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            if (version == 0)
            {
                refused ??= $"no version known for '{to}'"; // a base of 0 would move whatever is there
                continue;
            }

            try
            {
                await _ctx.Metadata.MoveFileAsync(new MoveFileRequest { FromPath = to, ToPath = path + to[target.Length..], BaseVersion = version, Device = _ctx.Device }, ct).ConfigureAwait(false);
            }
            catch (DropboxException e) when (e.Kind is ErrorKind.Conflict or ErrorKind.NotFound or ErrorKind.AlreadyExists)
            {
                refused ??= e.Message;
            }
        }

        return refused;
    }

    /// <summary>
    /// Moves the rows at or under <paramref name="from"/> whose server paths were moved to under <paramref name="to"/>
    /// (<paramref name="moved"/>: live on the server as this pass saw it, all moved by this pass, alone or with their
    /// folder, <paramref name="versions"/> the versions those moves made; or moved by another device, as this pass lists
    /// it) there too, in the db and in the pass's index. A row takes the version its move made
    /// when the move carried the synced content unchanged, so the move's echo is nothing to do; any other keeps its synced
    /// version, and the next pass applies what changed on the server since as any remote change. A row the server did not
    /// move (its path gone there already) stays: its file, renamed here, is then new under the new name, never a synced
    /// file the server does not have.
    /// </summary>
    private void MoveRows(string from, string to, Dictionary<string, BaseStat> index, HashSet<string> moved, Dictionary<string, (ulong Version, byte[] ContentHash)> versions, IReadOnlyDictionary<string, RemoteEntry> remote)
    {
        foreach (var key in index.Keys.Where(k => LocalCaseFacts.Under(k, from)).Order(StringComparer.Ordinal).ToList())
        {
            var path = to + key[from.Length..];
            var followed = remote.TryGetValue(path, out var there) && there is { Deleted: false } && there.MovedFrom == key;
            if (!moved.Contains(key) && !followed)
            {
                continue;
            }

            index.Remove(key, out var stat);
            if (_ctx.State.GetFile(key) is { } record)
            {
                var version = versions.TryGetValue(path, out var made) ? (made.ContentHash.AsSpan().SequenceEqual(record.ContentHash) ? made.Version : record.Version)
                    : followed && there!.Kind == record.Kind && (record.Kind == FileKind.Folder || there.ContentHash.AsSpan().SequenceEqual(record.ContentHash)) ? there.Version
                    : record.Version;
                _ctx.Db.RecordMove(key, record with { Path = path, Version = version }, record.Kind == FileKind.File ? _ctx.State.GetChunks(key) : null);
                stat = stat with { Version = version };
            }

            index[path] = stat;
        }
    }

    /// <summary><c>dir/name (Case Conflict).ext</c>, then <c>(Case Conflict 2)</c>... the first <paramref name="isTaken"/> refuses.</summary>
    internal static string CaseConflictName(string path, Func<string, bool> isTaken) =>
        FreeCaseConflictName(path, isTaken) ?? throw new IOException(NoFreeNameMessage(path));

    /// <summary>As <see cref="CaseConflictName"/>; null when none of the first 10,000 is free.</summary>
    internal static string? FreeCaseConflictName(string path, Func<string, bool> isTaken)
    {
        var slash = path.LastIndexOf('/');
        var directory = slash >= 0 ? path[..(slash + 1)] : string.Empty;
        var name = slash >= 0 ? path[(slash + 1)..] : path;
        var dot = name.LastIndexOf('.');
        var (stem, extension) = dot > 0 ? (name[..dot], name[dot..]) : (name, string.Empty);
        for (var n = 1; n < 10_000; n++)
        {
            var candidate = $"{directory}{stem}{CaseConflictMarker}{(n == 1 ? string.Empty : " " + n.ToString(System.Globalization.CultureInfo.InvariantCulture))}){extension}";
            if (!isTaken(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static string NoFreeNameMessage(string path) => $"Could not find a free case-conflict name for '{path}' after 10000 tries; rename it by hand.";
}
