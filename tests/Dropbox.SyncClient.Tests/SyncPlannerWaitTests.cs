using Dropbox.Shared.Chunks;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The planner's wait (<see cref="SyncPlanner.Waits"/>): the scan observes whether a file may still be being written
/// (<see cref="LocalEntry.SettlesIn"/>), the planner alone decides that a changed file, a new file or a case-conflict
/// rename waits, and says when to look again.
/// </summary>
public sealed class SyncPlannerWaitTests
{
    private static readonly byte[] H1 = [1];
    private static readonly byte[] H2 = [2];
    private static readonly byte[] H3 = [3];
    private static readonly TimeSpan Young = TimeSpan.FromMilliseconds(1500);

    // Local: "same" as the base, "edit" new content (H2), "touch" mtime only. Remote: "-" no change, "edit" new version
    // (H3), "edit2" new version with the local edit's content (H2), "del" deleted. Each row: what a settled file gets,
    // and what the same file gets when the scan observed it young (the fingerprint is there either way: the planner
    // waits whatever was read).
    [Theory]
    [InlineData("edit", true, "-", "Upload", "Wait")] // a young changed file
    [InlineData("touch", true, "-", "Touch", "Wait")]
    [InlineData("edit", false, "-", "Upload", "Wait")] // a young new file (not plain: planned path by path)
    [InlineData("edit", true, "edit", "Conflict", "Wait")] // with a remote change: no conflicted copy of bytes still moving
    [InlineData("edit", false, "edit", "Conflict", "Wait")]
    [InlineData("edit", true, "edit2", "Record", "Wait")]
    [InlineData("edit", true, "del", "Upload", "Wait")] // edited here, deleted remotely: kept, once it settles
    [InlineData("same", true, "edit", "Download", "Download")] // young but as synced (just downloaded, say): nothing to wait for
    [InlineData("same", true, "del", "DeleteLocal", "DeleteLocal")]
    [InlineData("same", true, "-", null, null)]
    public void A_changed_file_the_scan_observed_young_waits_and_a_settled_one_never_does(string local, bool hasBase, string remote, string? settled, string? young)
    {
        Assert.Equal(settled, Decide(Input(local, hasBase, remote, settlesIn: null))?.Kind.ToString());
        Assert.Equal(young, Decide(Input(local, hasBase, remote, settlesIn: Young))?.Kind.ToString());
    }

    [Fact]
    public void A_wait_says_when_to_look_again_and_carries_the_remote_change_that_waits_with_it()
    {
        var wait = Decide(Input("edit", true, "edit", settlesIn: Young))!;

        Assert.Equal(SyncActionKind.Wait, wait.Kind);
        Assert.Equal(Young, wait.SettlesIn);
        Assert.Equal(SyncPlanner.ChangingReason, wait.Reason);
        Assert.Equal(8UL, wait.Remote!.Version);
        Assert.NotNull(wait.Local);
    }

    [Fact]
    public void With_a_stable_age_of_zero_nothing_is_observed_young_and_nothing_waits()
    {
        var clock = new ManualClock();
        var now = clock.GetUtcNow().UtcTicks;
        var observed = new Stability(clock, TimeSpan.Zero, null, SyncOptions.DefaultQuietPeriod).SettlesIn("f", now);

        Assert.Null(observed);
        Assert.Equal(SyncActionKind.Upload, Decide(Input("edit", true, "-", observed))!.Kind);
        Assert.Equal(TimeSpan.FromSeconds(2), new Stability(clock, TimeSpan.FromSeconds(2), null, SyncOptions.DefaultQuietPeriod).SettlesIn("f", now));
    }

    [Fact]
    public void A_young_file_in_a_folder_here_where_the_server_has_a_file_waits_and_the_folder_with_it()
    {
        // A folder here (with a young file in it) where the server has a file: once the file settles, what is left in the
        // folder moves aside for the server's file; until then the file waits and the folder is skipped with it.
        var snapshot = new LocalSnapshot();
        snapshot.Entries["A"] = LocalEntry.Folder("A");
        snapshot.Entries["A/y"] = new LocalEntry("A/y", FileKind.File, 10, 100, Young);
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord>(),
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = new Dictionary<string, RemoteEntry> { ["A"] = new("A", FileKind.File, 3, false, 10, H1, 0) },
        });

        Assert.Equal([(SyncActionKind.Skip, "A", SyncPlanner.FolderWaitsReason), (SyncActionKind.Wait, "A/y", SyncPlanner.ChangingReason)],
            plan.Select(a => (a.Kind, a.Path, a.Reason)).OrderBy(a => a.Path, StringComparer.Ordinal));
    }

    [Fact]
    public void A_young_file_here_where_the_remote_side_made_a_folder_waits_before_it_is_kept_as_a_conflicted_copy()
    {
        // Once settled it moves aside for the folder (a KindConflict); until then it waits, with the remote change.
        var snapshot = new LocalSnapshot();
        snapshot.Entries["B"] = new LocalEntry("B", FileKind.File, 10, 100, Young);
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord>(),
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = new Dictionary<string, RemoteEntry> { ["B"] = new("B", FileKind.Folder, 3, false, 0, [], 0) },
        });

        Assert.Equal((SyncActionKind.Wait, SyncPlanner.ChangingReason, true), plan.Select(a => (a.Kind, a.Reason, a.Remote is not null)).Single());
    }

    [Fact]
    public void A_young_new_file_is_not_a_plain_new_file_so_it_is_planned_where_it_waits()
    {
        var trees = new NewFileTrees(new Dictionary<string, BaseStat>(), new Dictionary<string, RemoteEntry>(), new HashSet<string>(), null);

        Assert.True(PlannerFastPaths.IsPlainNewFile("new.txt", FileKind.File, 10, null, trees));
        Assert.False(PlannerFastPaths.IsPlainNewFile("new.txt", FileKind.File, 10, Young, trees));
    }

    // The engine renames a name that clashes in case before the plan; the planner decides whether it may now.
    [Theory]
    [InlineData(false, false, null)]
    [InlineData(false, true, SyncPlanner.CaseClashChangingReason)]
    [InlineData(true, false, null)]
    [InlineData(true, true, SyncPlanner.CaseClashFolderChangingReason)]
    public void A_case_clashing_name_still_being_written_waits_to_be_renamed(bool isDirectory, bool young, string? reason)
    {
        var wait = SyncPlanner.WaitToRename("Notes", isDirectory, young ? Young : null);

        Assert.Equal(reason, wait?.Reason);
        if (wait is not null)
        {
            Assert.Equal((SyncActionKind.Wait, "Notes", Young), (wait.Kind, wait.Path, wait.SettlesIn));
        }
    }

    // A folder is renamed whole over a walk of it on disk: anything in it young waits, and so does a walk that could not
    // look at everything (past its bound, or unreadable), never renamed on a guess. Past the bound it is looked at again
    // after the engine's backoff (1 min here); after a read error, after the folder settle age, the backoff not used.
    [Theory]
    [InlineData(false, null, false, null, 0)]
    [InlineData(true, null, false, SyncPlanner.CaseClashFolderChangingReason, 1_500)]
    [InlineData(false, "more than 100000 entries under it", true, SyncPlanner.CaseClashFolderUncheckedReason, 60_000)]
    [InlineData(false, "reading it took longer than 10 s", true, SyncPlanner.CaseClashFolderUncheckedReason, 60_000)]
    [InlineData(true, "'Docs/sub' could not be read (gone)", false, SyncPlanner.CaseClashFolderUncheckedReason, 30_000)]
    public void A_case_clashing_folder_waits_to_be_renamed_while_anything_in_it_is_young_or_unchecked(bool young, string? @unchecked, bool overBound, string? reason, int waitMs)
    {
        var wait = SyncPlanner.WaitToRename("Docs", new FolderObservation(young ? Young : null, @unchecked, overBound), TimeSpan.FromMinutes(1));

        Assert.Equal(reason, wait?.Reason);
        if (wait is not null)
        {
            Assert.Equal((SyncActionKind.Wait, "Docs", TimeSpan.FromMilliseconds(waitMs)), (wait.Kind, wait.Path, wait.SettlesIn));
        }
    }

    // What the engine reads before the plan: the content of a settled changed file (a young one waits whatever it holds),
    // and on a reconcile pass an unchanged one too.
    [Theory]
    [InlineData("edit", false, false, true)]
    [InlineData("edit", true, false, false)]
    [InlineData("edit", true, true, false)]
    [InlineData("same", false, false, false)]
    [InlineData("same", false, true, true)]
    [InlineData("same", true, true, true)] // as synced: its bytes are compared, young or not
    public void The_plan_needs_the_content_of_a_settled_changed_file(string local, bool young, bool reconcile, bool needed)
    {
        var input = Input(local, true, "-", young ? Young : null);

        Assert.Equal(needed, SyncPlanner.NeedsContent(input.Local.Entries["f"], input.Base["f"], reconcile));
    }

    private static SyncAction? Decide(PlanInput input) => SyncPlanner.Plan(input) is [var only] ? only : null;

    private static PlanInput Input(string local, bool hasBase, string remote, TimeSpan? settlesIn)
    {
        var snapshot = new LocalSnapshot();
        var fingerprints = new Dictionary<string, FileFingerprint>();
        switch (local)
        {
            case "same":
                snapshot.Entries["f"] = new LocalEntry("f", FileKind.File, 10, 100, settlesIn);
                break;
            case "touch":
                snapshot.Entries["f"] = new LocalEntry("f", FileKind.File, 10, 200, settlesIn);
                fingerprints["f"] = new FileFingerprint(10, 200, [], H1);
                break;
            case "edit":
                snapshot.Entries["f"] = new LocalEntry("f", FileKind.File, 11, 300, settlesIn);
                fingerprints["f"] = new FileFingerprint(11, 300, [ChunkRef.Raw(ChunkId.Compute([7]), 11)], H2);
                break;
        }

        var bases = new Dictionary<string, FileRecord>();
        if (hasBase)
        {
            bases["f"] = new FileRecord("f", FileKind.File, 10, 100, 5, H1);
        }

        var remotes = new Dictionary<string, RemoteEntry>();
        switch (remote)
        {
            case "edit":
                remotes["f"] = new RemoteEntry("f", FileKind.File, 8, false, 12, H3, 0);
                break;
            case "edit2":
                remotes["f"] = new RemoteEntry("f", FileKind.File, 8, false, 11, H2, 0);
                break;
            case "del":
                remotes["f"] = new RemoteEntry("f", FileKind.File, 8, true, 0, [], 0);
                break;
        }

        return new PlanInput { Base = bases, Local = snapshot, Fingerprints = fingerprints, Remote = remotes };
    }
}
