namespace Dropbox.SyncClient.State;

/// <summary>Names of the rows in the settings table.</summary>
internal static class StateKeys
{
    public const string Server = "server";
    public const string Token = "token";
    public const string TrustCa = "trust_ca_pem";
    public const string TrustFingerprint = "trust_fingerprint";
    public const string Folder = "folder";

    /// <summary>
    /// The namespace of the account the link logged in to: a login to another account on the same server and folder
    /// starts fresh, as a login to another server or folder does. Absent in a db from before it was kept (its next
    /// login stores it).
    /// </summary>
    public const string AccountNamespace = "account_namespace";
    public const string Device = "device";
    public const string Cursor = "cursor";
    public const string LastSync = "last_sync";
    public const string LastReconcile = "last_reconcile";
    public const string LastSummary = "last_summary";
    public const string Parallelism = "parallelism";
    public const string MassDeleteShare = "mass_delete_share";
    public const string MassDeleteMinimum = "mass_delete_minimum";
    public const string ReconcileInterval = "reconcile_interval";
    public const string StableAge = "stable_age";

    /// <summary>
    /// Case-clash losers whose rename on the server was refused at their last try (a JSON array of paths; see
    /// Sync.CaseConflicts): kept across runs, so a device whose rows are stale renames here alone at the second refusal
    /// also when every run is a new <c>sync --once</c>.
    /// </summary>
    public const string CaseRefusedOnServer = "case_refused_on_server";

    /// <summary>
    /// The remote moves local case-conflict renames follow and a pass did not make here (a JSON array of both ends of each
    /// move; see Sync.FollowedCaseMoves): put back in each later pass's remote view, so the cursor moves on while the
    /// rename follows the move still.
    /// </summary>
    public const string CaseFollowedMoves = "case_followed_moves";

    /// <summary>
    /// A case-conflict rename about to be made here whose synced rows follow it (a JSON object; see Sync.CaseRenameIntent):
    /// written before the rename here, removed in the transaction that moves the rows. One left by a crash is resolved at
    /// the start of the next pass (the rows moved as planned where the rename was made, else dropped).
    /// </summary>
    public const string CaseRenameIntent = "case_rename_intent";

    /// <summary>The <c>.dropboxignore</c> files the last completed pass read, each with its content's hash (see Sync.IgnoreFileMemory).</summary>
    public const string IgnoreFiles = "ignore_files";

    /// <summary>
    /// Remote files at a folder that holds the state directory, not taken here (a JSON array of path, version and size;
    /// see Sync.StateParentFiles): kept until the server no longer holds them, so they are moved aside on the server
    /// once something here needs the folder, though the change feed listed them passes ago.
    /// </summary>
    public const string FilesAboveStateDirectory = "files_above_state_directory";

    /// <summary>
    /// The state directory's path in the folder (one below its top level) for which a whole listing has been kept in
    /// <see cref="FilesAboveStateDirectory"/> (see Sync.StateParentFiles). Absent (a db from before that memory was kept,
    /// whose cursor may be past such a file that the change feed never lists again) or another path (the state directory
    /// moved): the next pass lists everything, once.
    /// </summary>
    public const string FilesAboveStateDirectoryListed = "files_above_state_directory_listed";

    /// <summary>The secret key of the chunk fast hash (base64, see LocalState.FastHash); never logged, never sent.</summary>
    public const string FastHashKey = "fast_hash_key";

    /// <summary>The id in the sync folder's marker file (see Sync.FolderIdentity).</summary>
    public const string FolderId = "folder_id";

    /// <summary>
    /// The executable-bit probe's last definite answer for the folder: "1" holds, "0" cannot (also stored by the
    /// migration that adds the bit column: its rows were written without the bit), "adopting:&lt;unix ns&gt;" while rows
    /// reset to unknown at that time wait for a completed adopt, "adopting-unknown:&lt;unix ns&gt;" while the unknown rows
    /// of a db that stored no answer do (a +x on disk is kept); absent in a db from the build before it was kept (its
    /// bits are good). See Sync.SyncEngine's probe step.
    /// </summary>
    public const string ExecutableBitHeld = "exec_bit_held";
}
