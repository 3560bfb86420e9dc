namespace Dropbox.SyncClient.Sync;

/// <summary>What a pass does for one path (or a pair of paths, for moves).</summary>
internal enum SyncActionKind
{
    /// <summary>Send the local file up (new or edited), with the merge base as base version.</summary>
    Upload,

    /// <summary>Bring the remote version down.</summary>
    Download,

    /// <summary>
    /// A plain new remote file (never synced, nothing at its path here, not moved, ignored, withheld, refused or under a
    /// path that is a file on some side): it can only come down as new, so it is downloaded with the others in batches,
    /// one durability barrier per batch, after the other transfers. A first sync of a large account is almost all such
    /// files. Planned only when <see cref="PlanInput.Synced"/> is given.
    /// </summary>
    DownloadNew,

    /// <summary>
    /// The plain new local files of a pass (see <see cref="PlannerFastPaths.IsPlainNewFile"/>), as one step that holds a path,
    /// size and mtime each (<see cref="SyncAction.NewFiles"/>, not an action or an entry per file): each can only go up as
    /// new, so none was hashed before the plan; they are hashed and uploaded in groups after the other transfers. A first
    /// sync of a large tree is almost all such files. Planned when <see cref="PlanInput.NewLocal"/> holds any.
    /// </summary>
    UploadNew,

    /// <summary>The file was deleted locally: delete it remotely.</summary>
    DeleteRemote,

    /// <summary>The file was deleted remotely: delete it locally (to the trash).</summary>
    DeleteLocal,

    /// <summary>A local rename/move detected by content: move remotely.</summary>
    MoveRemote,

    /// <summary>A remote move of a file unchanged locally: rename locally.</summary>
    MoveLocal,

    /// <summary>Both sides changed differently: keep the local edit as a conflicted copy, take the remote.</summary>
    Conflict,

    /// <summary>
    /// A file here where the remote side now holds a folder (see <see cref="SyncPlanner.FileAgainstFolderReason"/> and
    /// <see cref="SyncPlanner.ReplacedByFolderReason"/>): before anything else of the pass runs, the file leaves the path
    /// (to the trash when as synced, else to a conflicted copy uploaded as new), so the folder's entries come down there.
    /// </summary>
    KindConflict,

    /// <summary>
    /// A hidden leftover (<see cref="PlanInput.Displaced"/>; its <see cref="SyncAction.Path"/> is the holding name) whose
    /// bytes are exactly what the server holds at a path it can have been displaced from (<see cref="SyncAction.SameAs"/>,
    /// see <see cref="DisplacedRules.ServerHoldsAt"/>): no file of the user's. Before anything else of the pass runs, it is
    /// looked at again and moved to the trash; one written since it was read is kept as a
    /// <see cref="KeepDisplaced"/> would be, and sent by the next pass.
    /// </summary>
    RemoveDisplaced,

    /// <summary>
    /// A hidden leftover that is a file of the user's (see <see cref="DisplacedRules"/>): before anything else of the pass
    /// runs, it is moved to a conflicted-copy name beside the file it displaced (<see cref="SyncAction.Original"/>, else a
    /// short name in its folder), never over anything, and sent as new, as a conflict's copy is; by a later pass where
    /// <see cref="SyncAction.Reason"/> is <see cref="DisplacedRules.KeepForLaterReason"/>. Under a name the ignore rules
    /// match it stays here, not sent. One that cannot be moved stays hidden and is tried again next pass.
    /// </summary>
    KeepDisplaced,

    /// <summary>
    /// A new remote file whose name clashes in case with a name here (<see cref="PlanInput.NewRemoteCaseClashes"/>, see
    /// <see cref="NewRemoteCaseRules"/>): before anything else of the pass runs, it is renamed on the server to its
    /// "(Case Conflict)" name (<see cref="SyncAction.ToPath"/> first), with the version listed, and comes down under that
    /// name with the next pass. Its path is withheld this pass (never downloaded).
    /// </summary>
    CaseRenameRemote,

    /// <summary>
    /// A local name that clashes in case (<see cref="PlanInput.LocalCaseClashes"/>, decided by <see cref="LocalCaseRules"/>
    /// in the plan): before anything else of the pass runs, it is looked at again, renamed on the server first where the
    /// server holds it (<see cref="SyncAction.LocalCase"/> says so, with the versions seen), then renamed here to
    /// <see cref="SyncAction.ToPath"/>, never over anything, and its synced rows follow it. A folder, and a name renamed on
    /// the server or following the server's rename, is withheld under both names this pass (the next finds it synced or new
    /// under its new name); a file renamed here alone is planned under its new name (read at its old one, see
    /// <see cref="Local.LocalEntry.ReadAt"/>) and sent this pass. Not renamed (refused, failed, or written since), every other
    /// step at or under either name is skipped (<see cref="LocalCaseRenames"/>).
    /// </summary>
    CaseRenameLocal,

    /// <summary>
    /// A new remote file whose name clashes in case with a name here that is held this pass (<see cref="SyncAction.CaseClash"/>
    /// says why: the other name goes this pass, or the probe could not tell whether the folder folds case): withheld,
    /// reported pending, nothing done.
    /// </summary>
    CaseHoldRemote,

    /// <summary>Both sides hold the same content: just record it as synced.</summary>
    Record,

    /// <summary>Local mtime changed but content did not: update the db only.</summary>
    Touch,

    /// <summary>
    /// A synced folder still here and still a folder on the server, listed at a newer version than its row (made again
    /// there by another device, or listed while the scan could not enter it): the db row takes the listed version, and
    /// nothing else is done (no folder is made or deleted; one gone from here since the scan keeps its row). Kept at the
    /// old version, the row made every conditional step on the folder go with a version the server no longer holds: a
    /// case-conflict rename's move was refused, made here alone, and the server's folder came down and clashed again.
    /// </summary>
    RecordFolder,

    /// <summary>Gone on both sides: forget the path.</summary>
    Forget,

    /// <summary>An empty local folder: create it remotely.</summary>
    CreateRemoteFolder,

    /// <summary>A remote folder: create it locally.</summary>
    CreateLocalFolder,

    /// <summary>A folder deleted locally: delete it remotely.</summary>
    DeleteRemoteFolder,

    /// <summary>A folder deleted remotely: delete it locally if empty.</summary>
    DeleteLocalFolder,

    /// <summary>Nothing can be done now (kind clash, withheld path, a file that changed while it was read...); retried next pass.</summary>
    Skip,

    /// <summary>
    /// The scan observed the file not yet settled (see <see cref="SyncPlanner.Waits"/>): perhaps still being written, so
    /// nothing is done with it this pass (no upload, no rename, no conflict). It is reported pending, and
    /// <see cref="SyncAction.SettlesIn"/> says how soon a pass could find it settled (the daemon's re-check;
    /// <c>sync --once</c> waits that long and plans again). A remote change at its path waits with it.
    /// </summary>
    Wait,

    /// <summary>
    /// The plan deletes more than the guard allows without confirmation (see <see cref="SyncPlanner.HoldDeletes"/>): it is
    /// the plan's only step, nothing runs this pass, and <see cref="SyncAction.Held"/> says what was held back and why.
    /// </summary>
    Hold,
}
