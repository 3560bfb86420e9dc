namespace Dropbox.SyncClient.Sync;

/// <summary>The planner's guard against deleting what the user did not mean to delete.</summary>
internal static partial class SyncPlanner
{
    /// <summary>
    /// What a plan must hold back without confirmation, pure over the plan and the guard's inputs; null when nothing.
    /// In this order: an empty folder whose plan deletes any file on the server; a plan deleting (files, here and
    /// remotely) at least <see cref="DeleteGuard.Minimum"/> (at least 1) and more than <see cref="DeleteGuard.Share"/> of
    /// the synced files (see <see cref="TripsMassDelete"/>); the first pass of a db from before folder markers whose plan
    /// deletes anything (a file or a folder) on the server. Confirmed: nothing is held.
    /// </summary>
    public static DeleteHold? HoldDeletes(IReadOnlyList<SyncAction> plan, DeleteGuard guard)
    {
        if (guard.Confirmed)
        {
            return null;
        }

        var local = plan.Count(IsLocalFileDelete);
        var remote = plan.Count(IsRemoteFileDelete);
        if (guard.FolderEmpty && remote > 0)
        {
            return new DeleteHold(DeleteHoldReason.EmptyFolder, local, remote, guard.SyncedFiles, guard.Share, FirstRemoteDelete(plan));
        }

        if (TripsMassDelete(local + remote, guard.SyncedFiles, guard.Share, guard.Minimum))
        {
            return new DeleteHold(DeleteHoldReason.MassDelete, local, remote, guard.SyncedFiles, guard.Share, FirstRemoteDelete(plan));
        }

        if (guard.AdoptingOldDb)
        {
            var remoteEntries = plan.Count(IsRemoteDelete);
            if (remoteEntries > 0)
            {
                return new DeleteHold(DeleteHoldReason.OldDbFirstPass, local, remoteEntries, guard.SyncedFiles, guard.Share, FirstRemoteDelete(plan));
            }
        }

        return null;
    }

    /// <summary>True when <paramref name="deletes"/> out of <paramref name="syncedFiles"/> needs confirmation.</summary>
    public static bool TripsMassDelete(int deletes, long syncedFiles, double share, int minimum) =>
        deletes >= Math.Max(1, minimum) && deletes > share * syncedFiles;

    /// <summary>True for a step that deletes on the server (a file or a folder).</summary>
    public static bool IsRemoteDelete(SyncAction a) => a.Kind is SyncActionKind.DeleteRemote or SyncActionKind.DeleteRemoteFolder || IsRemoteFileDelete(a);

    /// <summary>
    /// True for a step that deletes a synced file on the server: a remote delete, or a file replaced here by a folder
    /// (<see cref="ReplacedHereByFolderReason"/>: the server's file is deleted first).
    /// </summary>
    private static bool IsRemoteFileDelete(SyncAction a) =>
        a.Kind == SyncActionKind.DeleteRemote || (a.Kind == SyncActionKind.KindConflict && a.Reason == ReplacedHereByFolderReason);

    /// <summary>
    /// True for a step that deletes a synced file here (to the trash): a local delete, or a file as synced replaced
    /// remotely by a folder (<see cref="ReplacedByFolderReason"/>).
    /// </summary>
    private static bool IsLocalFileDelete(SyncAction a) =>
        a.Kind == SyncActionKind.DeleteLocal || (a.Kind == SyncActionKind.KindConflict && a.Reason == ReplacedByFolderReason);

    /// <summary>The plan held back by the guard (its only step is a <see cref="SyncActionKind.Hold"/>), or null.</summary>
    public static DeleteHold? HeldBack(IReadOnlyList<SyncAction> plan) => plan is [{ Kind: SyncActionKind.Hold, Held: { } held }] ? held : null;

    private static string? FirstRemoteDelete(IReadOnlyList<SyncAction> plan) => plan.FirstOrDefault(IsRemoteDelete)?.Path;
}
