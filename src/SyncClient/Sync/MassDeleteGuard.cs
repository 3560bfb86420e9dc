using Dropbox.Shared.Errors;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Reports a pass the planner held back (see <see cref="SyncPlanner.HoldDeletes"/>, which decides): the stop the user
/// sees, saying what would have been deleted and how to confirm (<c>sync --allow-mass-delete</c>).
/// </summary>
internal static class MassDeleteGuard
{
    /// <summary>Detail key marking a <see cref="DropboxException"/> as the guard's stop.</summary>
    public const string DetailKey = "mass-delete";

    /// <summary>The stop for a held plan of the pass over <paramref name="folder"/> (nothing synced, nothing deleted).</summary>
    public static DropboxException Stop(DeleteHold hold, string folder) => hold.Reason switch
    {
        DeleteHoldReason.EmptyFolder => new DropboxException(
            ErrorKind.Conflict,
            $"Stopped: the sync folder is empty, and this pass would delete {hold.RemoteDeletes} of {hold.SyncedFiles} synced files on the server. " +
            "If the sync folder was replaced or a drive is not mounted, fix that first. " +
            "If the deletions are intended, run: sync --allow-mass-delete").WithDetail(DetailKey, "1"),
        DeleteHoldReason.MassDelete => new DropboxException(
            ErrorKind.Conflict,
            $"Stopped: this pass would delete {hold.LocalDeletes + hold.RemoteDeletes} of {hold.SyncedFiles} synced files ({hold.RemoteDeletes} remotely, {hold.LocalDeletes} locally), more than " +
            $"{hold.Share:P0}. If the sync folder was moved or a drive is not mounted, fix that first. " +
            "If the deletions are intended, run: sync --allow-mass-delete").WithDetail(DetailKey, "1"),
        _ => new DropboxException(
            ErrorKind.Conflict,
            $"Stopped: the client's database is from before folder markers ({FolderIdentity.MarkerName}), and this first pass with it would delete {hold.RemoteDeletes} " +
            $"entr{(hold.RemoteDeletes == 1 ? "y" : "ies")} on the server that {(hold.RemoteDeletes == 1 ? "is" : "are")} missing from '{folder}' (for example " +
            $"'{hold.Example}'). Nothing was synced and nothing was deleted. " +
            "If the deletions are intended, run: sync --allow-mass-delete; if this is not the folder that was synced, put that one back, or " +
            "take this one as new (merged with the server, nothing deleted): sync --confirm-new-folder").WithDetail(FolderIdentity.DetailKey, "1").WithDetail(DetailKey, "1"),
    };
}
