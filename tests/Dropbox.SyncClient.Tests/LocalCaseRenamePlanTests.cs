using Dropbox.Shared.Chunks;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Local names that clash in case as planner steps (<see cref="SyncActionKind.CaseRenameLocal"/>): the plan decides them
/// from their facts, plans the rest of the pass over the snapshot as the renames leave it, and a rename not made turns
/// the steps under its names into skips (<see cref="LocalCaseRenames.Hold"/>). No disk.
/// </summary>
public sealed class LocalCaseRenamePlanTests
{
    private static readonly byte[] H1 = [1];
    private static readonly byte[] H2 = [2];

    [Fact]
    public void A_clashing_folder_is_renamed_first_and_nothing_under_either_name_is_planned()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Entries["docs/a.txt"] = new LocalEntry("docs/a.txt", FileKind.File, 3, 100, SettlesIn: null);
        snapshot.Entries["other.txt"] = new LocalEntry("other.txt", FileKind.File, 4, 100, SettlesIn: null);
        var input = Input(snapshot, new LocalCaseClash("docs", IsDirectory: true) { FreeName = "docs (Case Conflict)" });
        input = input with
        {
            Fingerprints = new Dictionary<string, FileFingerprint>
            {
                ["docs/a.txt"] = new FileFingerprint(3, 100, [], H1),
                ["other.txt"] = new FileFingerprint(4, 100, [ChunkRef.Raw(ChunkId.Compute([4]), 4)], H2),
            },
        };

        var plan = SyncPlanner.Plan(input);

        var rename = Assert.Single(plan, a => a.Kind == SyncActionKind.CaseRenameLocal);
        Assert.Equal(("docs", "docs (Case Conflict)"), (rename.Path, rename.ToPath));
        Assert.DoesNotContain(plan, a => a != rename && (a.Path.StartsWith("docs", StringComparison.Ordinal) || a.ToPath?.StartsWith("docs", StringComparison.Ordinal) == true));
        Assert.Contains(plan, a => a is { Kind: SyncActionKind.Upload, Path: "other.txt" });
        Assert.True(snapshot.Entries.ContainsKey("docs/a.txt"), "the planner edited the snapshot it was given");
    }

    [Fact]
    public void A_file_renamed_here_alone_is_sent_under_its_new_name_read_at_its_old_one()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Entries["Notes.txt"] = new LocalEntry("Notes.txt", FileKind.File, 3, 100, SettlesIn: null);
        var input = Input(snapshot, new LocalCaseClash("Notes.txt", IsDirectory: false) { FreeName = "Notes (Case Conflict).txt" }) with
        {
            Fingerprints = new Dictionary<string, FileFingerprint> { ["Notes.txt"] = new FileFingerprint(3, 100, [ChunkRef.Raw(ChunkId.Compute([3]), 3)], H1) },
        };

        var plan = SyncPlanner.Plan(input);

        var rename = Assert.Single(plan, a => a.Kind == SyncActionKind.CaseRenameLocal);
        Assert.Equal("Notes (Case Conflict).txt", rename.ToPath);
        var upload = Assert.Single(plan, a => a.Kind == SyncActionKind.Upload);
        Assert.Equal("Notes (Case Conflict).txt", upload.Path);
        Assert.Equal("Notes.txt", upload.Local!.ReadAt);
        Assert.Equal(H1, upload.Fingerprint!.ContentHash);
        Assert.DoesNotContain(plan, a => a.Path == "Notes.txt" && a != rename);
    }

    [Fact]
    public void The_engine_s_edit_of_the_snapshot_and_the_plan_s_own_are_one_edit()
    {
        var clashes = new List<LocalCaseClash>
        {
            new("Notes.txt", IsDirectory: false) { FreeName = "Notes (Case Conflict).txt" },
            new("docs", IsDirectory: true) { FreeName = "docs (Case Conflict)" },
            new("Busy.txt", IsDirectory: false) { SettlesIn = TimeSpan.FromSeconds(2), FreeName = "Busy (Case Conflict).txt" },
        };
        LocalSnapshot Fresh()
        {
            var s = new LocalSnapshot();
            s.Entries["Notes.txt"] = new LocalEntry("Notes.txt", FileKind.File, 3, 100, SettlesIn: null);
            s.Entries["docs/a.txt"] = new LocalEntry("docs/a.txt", FileKind.File, 3, 100, SettlesIn: null);
            s.Entries["Busy.txt"] = new LocalEntry("Busy.txt", FileKind.File, 3, 100, SettlesIn: TimeSpan.FromSeconds(2));
            return s;
        }

        var once = Fresh();
        LocalCasePlan.Shape(once, clashes);
        var twice = Fresh();
        LocalCasePlan.Shape(twice, clashes);
        LocalCasePlan.Shape(twice, clashes);

        Assert.Equal(once.Entries.OrderBy(e => e.Key, StringComparer.Ordinal), twice.Entries.OrderBy(e => e.Key, StringComparer.Ordinal));
        Assert.Equal(once.Withheld.Order(StringComparer.Ordinal), twice.Withheld.Order(StringComparer.Ordinal));
        Assert.Equal(["Notes (Case Conflict).txt"], once.Entries.Keys);
        Assert.Equal(["Busy.txt", "docs", "docs (Case Conflict)"], once.Withheld.Order(StringComparer.Ordinal));

        // Planned over the snapshot as given, or as the engine edited it: the same plan.
        var fromFresh = SyncPlanner.Plan(Input(Fresh(), [.. clashes]));
        var fromShaped = SyncPlanner.Plan(Input(once, [.. clashes]));
        Assert.Equal(fromFresh.Select(a => a.ToString()), fromShaped.Select(a => a.ToString()));
        Assert.Contains(fromFresh, a => a is { Kind: SyncActionKind.Wait, Path: "Busy.txt", Reason: SyncPlanner.CaseClashChangingReason });
    }

    [Fact]
    public void A_loser_the_server_holds_is_planned_withheld_under_both_names_with_its_rows_under_the_new_one()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Withheld.Add("Readme.txt"); // the scan's loser
        var input = Input(snapshot, new LocalCaseClash("Readme.txt", IsDirectory: false)
        {
            FreeName = "Readme (Case Conflict).txt",
            OnServer = [("Readme.txt", 5)],
            SyncedUnder = ["Readme.txt"],
        }) with
        {
            Base = new Dictionary<string, FileRecord> { ["Readme.txt"] = new FileRecord("Readme.txt", FileKind.File, 3, 100, 5, H1) },
            Remote = new Dictionary<string, RemoteEntry> { ["Readme.txt"] = new RemoteEntry("Readme.txt", FileKind.File, 6, false, 4, H2, 0) },
        };

        var plan = SyncPlanner.Plan(input);

        var rename = Assert.Single(plan, a => a.Kind == SyncActionKind.CaseRenameLocal);
        Assert.Equal([("Readme.txt", 5UL)], rename.LocalCase!.OnServer);
        // The remote edit at the old name is not downloaded (nor anything deleted): it is withheld, remembered for later.
        Assert.DoesNotContain(plan, a => a.Kind is SyncActionKind.Download or SyncActionKind.DeleteLocal or SyncActionKind.DeleteRemote or SyncActionKind.Forget);
        Assert.Contains(plan, a => a is { Kind: SyncActionKind.Skip, Path: "Readme.txt", Reason: SyncPlanner.WithheldReason });
    }

    [Fact]
    public void A_rename_not_made_turns_every_step_at_or_under_either_name_into_a_skip()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Entries["Notes.txt"] = new LocalEntry("Notes.txt", FileKind.File, 3, 100, SettlesIn: null);
        snapshot.Entries["other.txt"] = new LocalEntry("other.txt", FileKind.File, 4, 100, SettlesIn: null);
        var input = Input(snapshot, new LocalCaseClash("Notes.txt", IsDirectory: false) { FreeName = "Notes (Case Conflict).txt" }) with
        {
            Fingerprints = new Dictionary<string, FileFingerprint>
            {
                ["Notes.txt"] = new FileFingerprint(3, 100, [ChunkRef.Raw(ChunkId.Compute([3]), 3)], H1),
                ["other.txt"] = new FileFingerprint(4, 100, [ChunkRef.Raw(ChunkId.Compute([4]), 4)], H2),
            },
            // A synced file of the same bytes gone from here: the new name's upload becomes its move.
            Base = new Dictionary<string, FileRecord> { ["old.txt"] = new FileRecord("old.txt", FileKind.File, 3, 90, 5, H1) },
        };
        var plan = SyncPlanner.Plan(input);
        Assert.Contains(plan, a => a is { Kind: SyncActionKind.MoveRemote, Path: "old.txt", ToPath: "Notes (Case Conflict).txt" });

        LocalCaseRenames.Hold(plan, new HashSet<string>(StringComparer.Ordinal) { "Notes.txt", "Notes (Case Conflict).txt" }, input.Remote);

        Assert.Contains(plan, a => a is { Kind: SyncActionKind.Skip, Path: "old.txt", Reason: LocalCasePlan.NotMadeReason });
        Assert.DoesNotContain(plan, a => a.Kind is SyncActionKind.MoveRemote or SyncActionKind.DeleteRemote);
        Assert.Contains(plan, a => a is { Kind: SyncActionKind.Upload, Path: "other.txt" });
        Assert.Single(plan, a => a.Kind == SyncActionKind.CaseRenameLocal);
    }

    [Fact]
    public void A_remote_move_held_by_a_rename_not_made_is_remembered_at_both_ends_and_the_other_names_move_is_not_held()
    {
        // Found by the planner model: the winner 'B' moved on the server was held (its name folds to the loser's), and
        // only its old name was remembered: the next pass found 'B' deleted there and 'B (renamed 1)' never came down.
        var remote = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal)
        {
            ["b"] = new RemoteEntry("b", FileKind.File, 7, Deleted: true, 0, [], 0) { MovedTo = "b (moved)" },
            ["b (moved)"] = new RemoteEntry("b (moved)", FileKind.File, 7, Deleted: false, 1, H1, 0) { MovedFrom = "b" },
            ["B"] = new RemoteEntry("B", FileKind.File, 6, Deleted: true, 0, [], 0) { MovedTo = "B (renamed 1)" },
            ["B (renamed 1)"] = new RemoteEntry("B (renamed 1)", FileKind.File, 6, Deleted: false, 1, H2, 0) { MovedFrom = "B" },
        };
        var plan = new List<SyncAction>
        {
            new(SyncActionKind.CaseRenameLocal, "b") { ToPath = "b (Case Conflict)" },
            new(SyncActionKind.MoveLocal, "b") { ToPath = "b (moved)", Remote = remote["b (moved)"] },
            new(SyncActionKind.MoveLocal, "B") { ToPath = "B (renamed 1)", Remote = remote["B (renamed 1)"] },
        };

        LocalCaseRenames.Hold(plan, new HashSet<string>(StringComparer.Ordinal) { "b", "b (Case Conflict)" }, remote);

        Assert.Contains(plan, a => a is { Kind: SyncActionKind.Skip, Path: "b", Reason: SyncPlanner.WithheldReason, Remote.Deleted: true });
        Assert.True(plan.Exists(a => a is { Kind: SyncActionKind.Skip, Path: "b (moved)", Reason: SyncPlanner.WithheldReason }),
            "the held move's new name was not remembered: " + string.Join("; ", plan));
        Assert.True(plan.Exists(a => a is { Kind: SyncActionKind.MoveLocal, Path: "B" }), "the move of 'B', whose name only folds to the loser's, was held: " + string.Join("; ", plan));
    }

    [Fact]
    public void A_remote_move_into_a_held_name_is_skipped_once_at_each_end()
    {
        var remote = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal)
        {
            ["old.txt"] = new RemoteEntry("old.txt", FileKind.File, 7, Deleted: true, 0, [], 0) { MovedTo = "docs/old.txt" },
            ["docs/old.txt"] = new RemoteEntry("docs/old.txt", FileKind.File, 7, Deleted: false, 1, H1, 0) { MovedFrom = "old.txt" },
        };
        var plan = new List<SyncAction>
        {
            new(SyncActionKind.CaseRenameLocal, "docs") { ToPath = "docs (Case Conflict)" },
            new(SyncActionKind.MoveLocal, "old.txt") { ToPath = "docs/old.txt", Remote = remote["docs/old.txt"] },
        };

        LocalCaseRenames.Hold(plan, new HashSet<string>(StringComparer.Ordinal) { "docs", "docs (Case Conflict)" }, remote);

        var skips = plan.Where(a => a.Kind == SyncActionKind.Skip).Select(a => a.Path).Order(StringComparer.Ordinal).ToList();
        Assert.True(skips.SequenceEqual(["docs/old.txt", "old.txt"]), "skips: " + string.Join("; ", plan.Where(a => a.Kind == SyncActionKind.Skip)));
    }

    private static PlanInput Input(LocalSnapshot snapshot, params LocalCaseClash[] clashes) => new()
    {
        Base = new Dictionary<string, FileRecord>(),
        Local = snapshot,
        Fingerprints = new Dictionary<string, FileFingerprint>(),
        Remote = new Dictionary<string, RemoteEntry>(),
        LocalCaseClashes = clashes,
    };
}
