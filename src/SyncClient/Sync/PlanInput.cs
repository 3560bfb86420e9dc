using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>The three views a pass compares: the folder, the db (merge base) and what changed remotely.</summary>
internal sealed record PlanInput
{
    /// <summary>The merge base: what was last synced, by path.</summary>
    public required IReadOnlyDictionary<string, FileRecord> Base { get; init; }

    /// <summary>The folder as scanned.</summary>
    public required LocalSnapshot Local { get; init; }

    /// <summary>Content of local files that differ from the base by size or mtime (read this pass).</summary>
    public required IReadOnlyDictionary<string, FileFingerprint> Fingerprints { get; init; }

    /// <summary>
    /// Scanned files whose content was needed and could not be read (see <see cref="UnreadableFile"/>): each waits, left
    /// as it is on both sides, whatever changed remotely.
    /// </summary>
    public IReadOnlyDictionary<string, UnreadableFile> Unreadable { get; init; } = new Dictionary<string, UnreadableFile>(StringComparer.Ordinal);

    /// <summary>Remote changes since the cursor (newest state per path).</summary>
    public required IReadOnlyDictionary<string, RemoteEntry> Remote { get; init; }

    /// <summary>
    /// The whole synced tree in its small form (every tracked path, unchanged ones included): the planner takes the plain
    /// new downloads itself (<see cref="SyncActionKind.DownloadNew"/>, see <see cref="PlannerFastPaths.TakeNewDownloads"/>);
    /// null: every path in <see cref="Remote"/> is planned one by one (a reconcile pass, or the engine, which took them
    /// before hashing).
    /// </summary>
    public IReadOnlyDictionary<string, BaseStat>? Synced { get; init; }

    /// <summary>
    /// The plain new local files the scan kept aside (each passed <see cref="PlannerFastPaths.IsPlainNewFile"/> when found, and
    /// is in no other view): planned as one <see cref="SyncActionKind.UploadNew"/>; null or empty: none.
    /// </summary>
    public NewFiles? NewLocal { get; init; }

    /// <summary>
    /// The plain new remote files taken from the remote view right after the scan (<see cref="PlannerFastPaths.TakeNewDownloads"/>,
    /// each a <see cref="SyncActionKind.DownloadNew"/>, in no other view): the plan emits them as they are.
    /// </summary>
    public IReadOnlyList<SyncAction> NewRemote { get; init; } = [];

    /// <summary>
    /// Waits for clashing names still being written (<see cref="SyncPlanner.WaitToRename(string, bool, TimeSpan?)"/>) decided
    /// by a caller: the plan emits them as they are. The engine gives the clashes' facts instead (<see cref="LocalCaseClashes"/>).
    /// </summary>
    public IReadOnlyList<SyncAction> CaseWaits { get; init; } = [];

    /// <summary>
    /// The local names that clash in case, with the facts their rule reads (<see cref="LocalCaseFacts"/>, read by the
    /// engine), in the order they are acted on: the planner decides them at once (<see cref="LocalCaseRules.DecideAll"/>),
    /// emits a <see cref="SyncActionKind.CaseRenameLocal"/> or a wait for each, and plans the rest of the pass over the
    /// snapshot and merge base as the renames leave them (<see cref="LocalCaseSnapshot.AsPlanned"/>).
    /// </summary>
    public IReadOnlyList<LocalCaseClash> LocalCaseClashes { get; init; } = [];

    /// <summary>
    /// The hidden leftovers the scan found (<see cref="LocalSnapshot.Displaced"/>), each with the facts its rule reads
    /// (<see cref="DisplacedRules"/>): the planner removes or keeps each (<see cref="SyncActionKind.RemoveDisplaced"/>,
    /// <see cref="SyncActionKind.KeepDisplaced"/>). Their holding names are in no other view.
    /// </summary>
    public IReadOnlyList<DisplacedFile> Displaced { get; init; } = [];

    /// <summary>
    /// The new remote files whose names clash in case with a name here (<see cref="NewRemoteCaseRules.Decide"/>): each is
    /// withheld this pass (see <see cref="IsWithheld"/>; never downloaded) and planned as the rule says
    /// (<see cref="SyncActionKind.CaseRenameRemote"/>, <see cref="SyncActionKind.CaseHoldRemote"/>).
    /// </summary>
    public IReadOnlyList<NewRemoteCaseClash> NewRemoteCaseClashes { get; init; } = [];

    /// <summary>
    /// When and how deletions are held back (see <see cref="SyncPlanner.HoldDeletes"/>): a plan the guard holds is one
    /// <see cref="SyncActionKind.Hold"/>; null: nothing is held (a caller that guards on its own, or none).
    /// </summary>
    public DeleteGuard? Guard { get; init; }

    /// <summary>Paths whose newest remote state the client refused (not in <see cref="Remote"/>, yet known to the server).</summary>
    public IReadOnlySet<string> Refused { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// Of <see cref="Refused"/>, the live remote files at a folder that holds the client's state directory (see
    /// <see cref="Refusals.AboveStateDirectory"/>), with the version seen: never downloaded; the planner moves each aside
    /// on the server (<see cref="KindConflictRules.MoveAsideAboveStateDirectory"/>).
    /// </summary>
    public IReadOnlyDictionary<string, RemoteEntry> FilesAboveStateDirectory { get; init; } = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal);

    /// <summary>Of <see cref="FilesAboveStateDirectory"/>, the paths whose folder here holds synced paths (the db's clean rows included).</summary>
    public IReadOnlySet<string> StateParentsHoldingSynced { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    private (IReadOnlyDictionary<string, FileRecord> Base, LocalSnapshot Local, HashSet<string> Folders)? _foldersHoldingRenamedToUnnamable;

    /// <summary>
    /// True when the planner leaves <paramref name="path"/> alone as withheld: the scan withheld it or a folder above it
    /// (<see cref="LocalSnapshot.IsWithheld"/>), or it is a new remote file that clashes in case (<see cref="NewRemoteCaseClashes"/>).
    /// </summary>
    internal bool IsWithheld(string path) => Local.IsWithheld(path) || (NewRemoteCaseClashes.Count > 0 && CaseClashPaths(NewRemoteCaseClashes).Contains(path));

    private (IReadOnlyList<NewRemoteCaseClash> Of, HashSet<string> Paths)? _caseClashPaths;

    /// <summary>The paths of <paramref name="clashes"/> (made once per list: a folder that clashes brings one per file under it).</summary>
    private HashSet<string> CaseClashPaths(IReadOnlyList<NewRemoteCaseClash> clashes)
    {
        if (_caseClashPaths is not { } made || !ReferenceEquals(made.Of, clashes))
        {
            made = (clashes, PathsOf(clashes));
            _caseClashPaths = made;
        }

        return made.Paths;
    }

    /// <summary>The paths of <paramref name="clashes"/>.</summary>
    internal static HashSet<string> PathsOf(IReadOnlyList<NewRemoteCaseClash> clashes)
    {
        var paths = new HashSet<string>(clashes.Count, StringComparer.Ordinal);
        foreach (var c in clashes)
        {
            paths.Add(c.Path);
        }

        return paths;
    }

    private (IReadOnlyDictionary<string, RemoteEntry> Remote, HashSet<string> Folders)? _remoteFolders;

    /// <summary>
    /// The folders above the live entries of <see cref="Remote"/> (each spelled as the server spells it): where a file
    /// here meets a folder the remote side made. Found once, and again for a copy with another <see cref="Remote"/>.
    /// </summary>
    internal HashSet<string> RemoteFolders()
    {
        if (_remoteFolders is { } known && ReferenceEquals(known.Remote, Remote))
        {
            return known.Folders;
        }

        var folders = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (path, entry) in Remote)
        {
            if (!entry.Deleted)
            {
                for (var slash = path.LastIndexOf('/'); slash > 0 && folders.Add(path[..slash]); slash = path.LastIndexOf('/', slash - 1))
                {
                }
            }
        }

        _remoteFolders = (Remote, folders);
        return folders;
    }

    /// <summary>
    /// True when the synced file <paramref name="record"/> has the size and mtime of a file the scan withheld because no
    /// path reaches it (<see cref="LocalSnapshot.Unnamable"/>): gone from its path, it was most likely renamed to that name
    /// (a rename keeps both), and deleting it on the server would take it from every other device while it sits here.
    /// </summary>
    internal bool RenamedToUnnamable(FileRecord record) =>
        Local.Unnamable.Count > 0 && record.Kind == FileKind.File && Local.Unnamable.Contains(FileStamp.Of(record));

    /// <summary>
    /// The folders above each synced file gone from here that the planner holds as renamed to a name no path reaches
    /// (<see cref="RenamedToUnnamable"/>): found once, in one pass over <see cref="Base"/>, and found again
    /// for a copy made with another <see cref="Base"/> or <see cref="Local"/> (a record's copy carries the cache).
    /// </summary>
    internal HashSet<string> FoldersHoldingRenamedToUnnamable()
    {
        if (_foldersHoldingRenamedToUnnamable is { } known && ReferenceEquals(known.Base, Base) && ReferenceEquals(known.Local, Local))
        {
            return known.Folders;
        }

        var folders = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (path, record) in Base)
        {
            if (!Local.Entries.ContainsKey(path) && RenamedToUnnamable(record))
            {
                for (var slash = path.LastIndexOf('/'); slash > 0 && folders.Add(path[..slash]); slash = path.LastIndexOf('/', slash - 1))
                {
                }
            }
        }

        _foldersHoldingRenamedToUnnamable = (Base, Local, folders);
        return folders;
    }
}
