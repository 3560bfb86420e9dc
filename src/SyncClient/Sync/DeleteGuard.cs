namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The planner's inputs for holding back deletions (see <see cref="SyncPlanner.HoldDeletes"/>): a pass that would delete
/// more than a share of the synced files (a vanished folder, an unmounted drive, a bad script), any file on the server
/// from an empty folder, or anything on the server on the first pass of a db from before folder markers, is held
/// until the user confirms with <c>sync --allow-mass-delete</c>.
/// </summary>
internal sealed record DeleteGuard
{
    /// <summary>The files the synced tree holds (what the share is taken of).</summary>
    public long SyncedFiles { get; init; }

    /// <summary>
    /// True when the pass's scan found nothing at all in the folder (no entry, clean, new or withheld path): then any
    /// remote file delete needs confirmation, however few (an emptied or replaced folder is no reason to wipe the server).
    /// </summary>
    public bool FolderEmpty { get; init; }

    /// <summary>The user confirmed the deletions (<c>sync --allow-mass-delete</c>): nothing is held.</summary>
    public bool Confirmed { get; init; }

    /// <summary>
    /// The first pass of a db from before folder markers (see <see cref="FolderIdentity.Check"/>): any delete on the server
    /// (file or folder) needs confirmation.
    /// </summary>
    public bool AdoptingOldDb { get; init; }

    /// <summary>The share of <see cref="SyncedFiles"/> a pass may delete without confirmation (more is held).</summary>
    public double Share { get; init; } = 0.5;

    /// <summary>Fewer file deletes than this are never held by the share rule.</summary>
    public int Minimum { get; init; } = 10;

    /// <summary>The guard of a pass run with these options.</summary>
    public static DeleteGuard From(SyncOptions options, long syncedFiles, bool folderEmpty, bool adoptingOldDb) => new()
    {
        SyncedFiles = syncedFiles,
        FolderEmpty = folderEmpty,
        Confirmed = options.AllowMassDelete,
        AdoptingOldDb = adoptingOldDb,
        Share = options.MassDeleteShare,
        Minimum = options.MassDeleteMinimum,
    };
}
