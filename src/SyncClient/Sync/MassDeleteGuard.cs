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
    public static void Check(IReadOnlyList<SyncAction> plan, long syncedFiles, SyncOptions options)
    {
        if (options.AllowMassDelete)
        {
            return;
        }

        var local = plan.Count(a => a.Kind == SyncActionKind.DeleteLocal);
        var remote = plan.Count(a => a.Kind == SyncActionKind.DeleteRemote);
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
