using Dropbox.Shared.Errors;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// Stops a pass that would delete more than a share of the synced files (a vanished folder, an unmounted
/// drive, a bad script) until the user confirms with <c>sync --allow-mass-delete</c>.
/// </summary>
internal static class MassDeleteGuard
{
    /// <summary>Detail key marking a <see cref="DropboxException"/> as the guard's stop.</summary>
    public const string DetailKey = "mass-delete";

    /// <summary>True when <paramref name="deletes"/> out of <paramref name="syncedFiles"/> needs confirmation.</summary>
    public static bool Trips(int deletes, long syncedFiles, double share, int minimum) =>
        deletes >= Math.Max(1, minimum) && deletes > share * syncedFiles;

    /// <summary>Throws the guard's stop when the plan trips it and the user did not allow it.</summary>
    /// <param name="folderEmpty">True when the pass's scan found nothing at all in the folder: then any remote
    /// delete needs confirmation, however few (an emptied or replaced folder is not a reason to wipe the server).</param>
    public static void Check(IReadOnlyList<SyncAction> plan, long syncedFiles, SyncOptions options, bool folderEmpty = false)
    {
        if (options.AllowMassDelete)
        {
            return;
        }

        var local = plan.Count(a => a.Kind == SyncActionKind.DeleteLocal);
        var remote = plan.Count(a => a.Kind == SyncActionKind.DeleteRemote);
        if (folderEmpty && remote > 0)
        {
            throw new DropboxException(
                ErrorKind.Conflict,
                $"Stopped: the sync folder is empty, and this pass would delete {remote} of {syncedFiles} synced files on the server. " +
                "If the sync folder was replaced or a drive is not mounted, fix that first. " +
                "If the deletions are intended, run: sync --allow-mass-delete").WithDetail(DetailKey, "1");
        }

        if (Trips(local + remote, syncedFiles, options.MassDeleteShare, options.MassDeleteMinimum))
        {
            throw new DropboxException(
                ErrorKind.Conflict,
                $"Stopped: this pass would delete {local + remote} of {syncedFiles} synced files ({remote} remotely, {local} locally), more than " +
                $"{options.MassDeleteShare:P0}. If the sync folder was moved or a drive is not mounted, fix that first. " +
                "If the deletions are intended, run: sync --allow-mass-delete").WithDetail(DetailKey, "1");
        }
    }
}
