using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>The planner's wait for files that may still be being written.</summary>
internal static partial class SyncPlanner
{
    /// <summary>Reason of a wait for a name that differs only in case from another and is still being written.</summary>
    public const string CaseClashChangingReason = "case conflict: differs only in case from another name and is still being written; it is renamed once it settles";

    /// <summary>Reason of a wait for a folder that differs only in case from another name and is still being written.</summary>
    public const string CaseClashFolderChangingReason = "case conflict: a folder that differs only in case from another name, still being written (it or something in it); it is renamed once everything in it settles";

    /// <summary>
    /// Reason of a wait for a folder that differs only in case from another name and that could not be looked at whole
    /// (more entries than the walk reads, slower than it reads, or something in it unreadable).
    /// </summary>
    public const string CaseClashFolderUncheckedReason = "case conflict: a folder that differs only in case from another name, and whether anything in it is still being written could not be told; it is renamed once it can be";

    /// <summary>
    /// The wait rule, over the scan's observation (<see cref="LocalEntry.SettlesIn"/>, see <see cref="Stability"/>): a
    /// file not yet settled waits (nothing is done with it; a <see cref="SyncActionKind.Wait"/> says when to look again),
    /// a settled one never does. One rule for a changed or new file (<see cref="Decide"/>), a plain new file (an unsettled
    /// one is not plain, see <see cref="PlannerFastPaths.IsPlainNewFile"/>: it is planned path by path, and waits there), what the engine
    /// reads before the plan (<see cref="NeedsContent"/>) and a case-conflict rename (<see cref="WaitToRename(string, bool, TimeSpan?)"/>).
    /// </summary>
    public static bool Waits(TimeSpan? settlesIn) => settlesIn is not null;

    /// <summary>
    /// True when the plan needs the content of a scanned file (its fingerprint, read before the plan): a file changed
    /// against the merge base that is settled (an unsettled one waits, so reading it would be wasted on bytes still
    /// moving), or, on a reconcile pass, an unchanged one too (its bytes are compared with the synced ones).
    /// </summary>
    public static bool NeedsContent(LocalEntry entry, FileRecord? baseRecord, bool reconcile) =>
        entry.Kind == FileKind.File && (IsUnchanged(entry, baseRecord) ? reconcile : !Waits(entry.SettlesIn));

    /// <summary>
    /// True when a scanned file is as synced by size, mtime and executable bit, and its ctime is the recorded one where one
    /// was recorded (<see cref="FileStamp.ChangeTimeAsRecorded"/>): its content is the merge base's. One whose ctime moved,
    /// or could not be read this time against a recorded one (statx failed for it), is read; its bytes decide (the same
    /// ones: the record is touched with the ctime seen; others: an edit).
    /// </summary>
    internal static bool IsUnchanged(LocalEntry local, FileRecord? baseRecord) =>
        baseRecord is not null && IsUnchanged(local, baseRecord.Kind, FileStamp.Of(baseRecord), baseRecord.Executable, baseRecord.ChangeTimeNs);

    /// <summary>The same test against the synced index's row of the path (<see cref="BaseStat"/>; its ctime 0 is unknown).</summary>
    internal static bool IsUnchanged(LocalEntry local, BaseStat stat) =>
        IsUnchanged(local, stat.Kind, FileStamp.Of(stat), stat.Executable, stat.ChangeTimeNs);

    private static bool IsUnchanged(LocalEntry local, FileKind kind, FileStamp synced, bool? executable, long? changeTimeNs) =>
        kind == FileKind.File && FileStamp.Of(local) == synced && !ExecutableBit.Differs(local.Executable, executable)
        && FileStamp.ChangeTimeAsRecorded(changeTimeNs, local.ChangeTimeNs);

    /// <summary>
    /// The rule of a case-conflict rename (the executor renames a name that clashes in case before the rest of the plan, see
    /// <see cref="SyncActionKind.CaseRenameLocal"/>): a file renamed mid-write would have its content split (the writer's next
    /// bytes make a new file under the old name), a folder renamed while a clone or unzip fills it would have its tree
    /// split. So one observed unsettled (a folder: itself or anything under it on disk, see
    /// <see cref="WaitToRename(string, FolderObservation)"/>) waits: the engine withholds it (nothing of it is uploaded,
    /// deleted or downloaded over) and the plan holds this step. Null: renamed now. The engine observes right before the
    /// rename, not at the scan: a write since the scan counts.
    /// </summary>
    public static SyncAction? WaitToRename(string path, bool isDirectory, TimeSpan? settlesIn) =>
        Waits(settlesIn)
            ? new SyncAction(SyncActionKind.Wait, path) { SettlesIn = settlesIn!.Value, Reason = isDirectory ? CaseClashFolderChangingReason : CaseClashChangingReason }
            : null;

    /// <summary>
    /// The rule of a case-conflict rename of a folder (see <see cref="WaitToRename(string, bool, TimeSpan?)"/>), over the
    /// walk of the folder on disk made right before the rename (<see cref="Stability.ObserveFolder(string, string, CancellationToken)"/>:
    /// ignored names and the inside of a folder the scan did not enter included). Anything in it unsettled waits; so does
    /// a folder the walk could not look at whole: a folder is never renamed on a guess, since the tree of a write still
    /// under way would be split. Past the walk's bound it is looked at again after <paramref name="overBoundRecheck"/>
    /// (the engine's backoff, see <see cref="UncheckedFolderBackoff"/>: every look reads up to the bound); after a read
    /// error, after <see cref="Stability.MinFolderSettleAge"/>, as a folder being written (most often a subfolder went
    /// during the walk: the tree is being moved), or after <paramref name="readErrorRecheck"/> where the engine's backoff
    /// says (a read error that stays). Null: renamed now.
    /// </summary>
    public static SyncAction? WaitToRename(string path, FolderObservation observed, TimeSpan overBoundRecheck, TimeSpan? readErrorRecheck = null) =>
        observed.Unchecked is not null
            ? new SyncAction(SyncActionKind.Wait, path) { SettlesIn = observed.OverBound ? overBoundRecheck : readErrorRecheck ?? Stability.MinFolderSettleAge, Reason = CaseClashFolderUncheckedReason }
            : WaitToRename(path, isDirectory: true, observed.SettlesIn);

    /// <summary>
    /// Reason of a wait for a file whose content was needed (its size, mtime, ctime or bit moved, or it is new) and could
    /// not be read (no permission, an I/O error). What it holds is not known, so it is never uploaded, never deleted and
    /// never downloaded over; a remote change to it waits (remembered with the withheld paths, see
    /// <see cref="WithheldPaths"/>), and it is read again after the engine's backoff (<see cref="UnreadableFile.Recheck"/>).
    /// Not an error: every other file syncs, and the cursor moves.
    /// </summary>
    public const string UnreadableReason = "could not be read; it is left as it is on both sides (not uploaded, deleted or downloaded over) and read again later";

    /// <summary>The step of a file that could not be read (see <see cref="UnreadableReason"/>), with the remote change (if any) that waits with it.</summary>
    /// <remarks>No <see cref="SyncAction.Local"/>: a pass that waits for its young files (<c>sync --once</c>) must not wait for this one.</remarks>
    internal static SyncAction WaitToRead(string path, FileRecord? baseRecord, RemoteEntry? remote, UnreadableFile unreadable) =>
        new(SyncActionKind.Wait, path) { Base = baseRecord, Remote = remote, SettlesIn = unreadable.Recheck, Reason = UnreadableReason, Unreadable = unreadable.Why };

    /// <summary>The step of a changed file the scan observed unsettled, with the remote change (if any) that waits with it.</summary>
    internal static SyncAction Wait(LocalEntry local, FileRecord? baseRecord, RemoteEntry? remote) =>
        new(SyncActionKind.Wait, local.Path) { Local = local, Base = baseRecord, Remote = remote, SettlesIn = local.SettlesIn!.Value, Reason = ChangingReason };
}
