namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The executor's report of what a plan leaves undone (its <see cref="SyncActionKind.Skip"/> and
/// <see cref="SyncActionKind.Wait"/> steps): each counted and said in the summary, the soonest re-check noted for the
/// daemon, and whether the cursor must stay put for a remote change that waits.
/// </summary>
internal static class SkipReport
{
    /// <summary>Reports the skips and waits of <paramref name="plan"/>; true when a remote change of <paramref name="remote"/> waits for a local file to settle (the cursor must stay).</summary>
    public static bool Report(IReadOnlyList<SyncAction> plan, RemoteView remote, SyncSummary summary, SyncProgress progress)
    {
        var holdCursor = false;

        // A clashing name waiting to be renamed is reported as the case conflict it is (pending, not a skip). A remote
        // change skipped at that withheld name is still reported as a skip of its own: it is a second thing left undone.
        List<string>? heldForUnnamable = null;
        foreach (var a in plan.Where(a => a.Kind is SyncActionKind.Skip or SyncActionKind.Wait))
        {
            if (a.Kind == SyncActionKind.Wait && a.Reason == SyncPlanner.UnreadableReason)
            {
                // Said once, with the system's reason. Not pending (it is not being written) and not an error (nothing
                // failed that a retry of the pass would fix, and the cursor moves: a remote change to it is remembered).
                summary.AddUnreadable();
                summary.RecheckWithin(a.SettlesIn);
                var unreadable = $"'{a.Path}' could not be read ({a.Unreadable}); it is left as it is here and on the server"
                    + (a.Remote is null ? string.Empty : ", and the remote change to it waits")
                    + $" until it can be read; tried again in {Format.Duration(a.SettlesIn)}";
                summary.AddNote(unreadable);
                progress.Log(unreadable);
                continue;
            }

            if (a.Kind == SyncActionKind.Wait && IsCaseClashWait(a))
            {
                summary.AddPending();
                summary.RecheckWithin(a.SettlesIn);
                summary.AddNote(a.Reason switch
                {
                    SyncPlanner.CaseClashFolderChangingReason => $"case conflict: folder '{a.Path}' differs only in case from another name and is still being written; it is renamed once it settles",
                    SyncPlanner.CaseClashFolderUncheckedReason => $"case conflict: folder '{a.Path}' differs only in case from another name, and whether anything in it is still being written could not be told (too many entries, too slow to read, or unreadable); it is renamed once it can be, or rename it by hand",
                    _ => $"case conflict: '{a.Path}' differs only in case from another name and is still being written; it is renamed once it settles",
                });
                continue;
            }

            if (a.Reason == SyncPlanner.UnnamableReason)
            {
                summary.AddSkipped();
                (heldForUnnamable ??= []).Add(a.Path);
                continue;
            }

            summary.AddSkipped();
            if (a.Kind == SyncActionKind.Wait)
            {
                summary.RecheckWithin(a.SettlesIn); // the daemon's re-check: when the planner says the file could be settled
            }

            if (a.Kind == SyncActionKind.Wait || a.Reason == SyncPlanner.ChangingReason)
            {
                summary.AddPending();

                // A remote change waits here for the local file to settle: keep the cursor where it is, or the next
                // pass would no longer see that change (a file only touched here would then never get it). A clashing
                // name waiting to be renamed is withheld instead: its remote change is remembered with the withheld paths.
                holdCursor |= a.Reason == SyncPlanner.ChangingReason && remote.Changes.ContainsKey(a.Path);
            }

            summary.AddNote($"skipped '{a.Path}': {a.Reason}");
            progress.Log($"skipped '{a.Path}': {a.Reason}");
        }

        if (heldForUnnamable is { Count: > 0 } held)
        {
            // One note for them all: a renamed folder of thousands of files would otherwise say it thousands of times a pass.
            var named = string.Join(", ", held.Order(StringComparer.Ordinal).Take(5).Select(p => $"'{p}'"));
            var note = $"skipped {held.Count} synced path(s) ({named}{(held.Count > 5 ? $" and {held.Count - 5} more" : string.Empty)}): {SyncPlanner.UnnamableReason}";
            summary.AddNote(note);
            progress.Log(note);
        }

        return holdCursor;
    }

    private static bool IsCaseClashWait(SyncAction a) => a.Reason is SyncPlanner.CaseClashChangingReason or SyncPlanner.CaseClashFolderChangingReason or SyncPlanner.CaseClashFolderUncheckedReason;
}
