using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The planner's rule for a hidden leftover a stopped client left (<see cref="DisplacedRules"/>): removed only where the
/// server holds exactly its bytes at a path it can have been displaced from, else kept as a conflicted copy; and how
/// the planner applies it (<see cref="SyncPlanner.Plan"/>).
/// </summary>
public sealed class DisplacedRulesTests
{
    private static readonly byte[] Leftover = [1];
    private static readonly byte[] Other = [2];
    private const long Size = 10;
    private const string Holding = "docs/.dropbox.tmp-displaced-0123456789abcdef0123456789abcdef";

    // A leftover of 10 bytes (hash [1]) in docs/, its holding name carrying docs/x.txt or no name; one neighbour: a synced
    // file (its synced hash, what is here now, its remote change) or a remote change of this pass. Expected: the path
    // whose bytes the server holds (removed), or null (kept).
    //   neighbour: "synced:PATH:HASH:HERE[:del]" or "remote:PATH:HASH[:del|:folder]"; HASH "same" (the leftover's) or "other".
    [Theory]
    // The name carried: only that path counts, whatever is here.
    [InlineData("docs/x.txt", "synced:docs/x.txt:same:AsSynced", "docs/x.txt")]
    [InlineData("docs/x.txt", "synced:docs/x.txt:same:Changed", "docs/x.txt")]
    [InlineData("docs/x.txt", "synced:docs/x.txt:same:Nothing", "docs/x.txt")]
    [InlineData("docs/x.txt", "synced:docs/x.txt:other:Changed", null)] // same size, other bytes: only the content tells
    [InlineData("docs/x.txt", "synced:docs/b.txt:same:Changed", null)] // another file's synced bytes: a copy of the user's
    [InlineData("docs/x.txt", "remote:docs/x.txt:same", "docs/x.txt")] // the bytes being downloaded
    [InlineData("docs/x.txt", "remote:docs/x.txt:other", null)]
    [InlineData("docs/x.txt", "remote:docs/b.txt:same", null)]
    [InlineData("docs/x.txt", "remote:docs/x.txt:same:del", null)] // a delete's hash is no version the server holds live
    [InlineData("docs/x.txt", "remote:docs/x.txt:same:folder", null)]
    // No name carried: a file of its folder that it can have been displaced from.
    [InlineData(null, "synced:docs/b.txt:same:Changed", "docs/b.txt")] // a download went in there, unrecorded
    [InlineData(null, "synced:docs/b.txt:same:AsSynced", null)] // not replaced: the leftover is a copy of it
    [InlineData(null, "synced:docs/b.txt:same:Nothing", null)] // the user moved it away
    [InlineData(null, "synced:docs/b.txt:same:Nothing:del", "docs/b.txt")] // a remote delete's, stopped before the trash
    [InlineData(null, "synced:docs/b.txt:same:NotAFile:del", null)] // something else there: not the delete's
    [InlineData(null, "synced:docs/b.txt:same:Changed:del", "docs/b.txt")]
    [InlineData(null, "synced:docs/b.txt:other:Changed", null)]
    [InlineData(null, "synced:docs/b.txt:other:Nothing:del", null)]
    [InlineData(null, "synced:other/b.txt:same:Changed", null)] // another folder: it cannot have been displaced from there
    [InlineData(null, "remote:docs/b.txt:same", "docs/b.txt")] // a new remote version of a file of its folder
    [InlineData(null, "remote:docs/b.txt:other", null)]
    [InlineData(null, "remote:other/b.txt:same", null)]
    public void A_leftover_is_removed_only_where_the_server_holds_its_bytes_at_a_path_it_can_have_been_displaced_from(string? original, string neighbour, string? expected)
    {
        var leftover = LeftoverWith(original, neighbour);

        var step = DisplacedRules.Decide(leftover, folderHeld: false);

        Assert.Equal(expected, DisplacedRules.ServerHoldsAt(leftover));
        Assert.Equal(Holding, step.Path);
        Assert.Equal(original, step.Original);
        Assert.Same(leftover.Fingerprint, step.Fingerprint);
        if (expected is null)
        {
            Assert.Equal((SyncActionKind.KeepDisplaced, DisplacedRules.KeepReason, null), (step.Kind, step.Reason, step.SameAs));
        }
        else
        {
            Assert.Equal((SyncActionKind.RemoveDisplaced, DisplacedRules.RemoveReason, expected), (step.Kind, step.Reason, step.SameAs));
        }
    }

    [Fact]
    public void A_synced_version_with_the_bytes_counts_before_a_remote_one()
    {
        var leftover = new DisplacedFile(Holding, null)
        {
            Fingerprint = new FileFingerprint(Size, 100, [], Leftover),
            Synced = [new DisplacedCandidate("docs/b.txt", Size, Leftover, FoundHere.Changed, null)],
            Remote = [new RemoteEntry("docs/a.txt", FileKind.File, 8, false, Size, Leftover, 0)],
        };

        Assert.Equal("docs/b.txt", DisplacedRules.ServerHoldsAt(leftover));
    }

    [Fact]
    public void A_leftover_that_could_not_be_read_is_kept_never_removed_on_a_guess_and_sent_by_a_later_pass()
    {
        var step = DisplacedRules.Decide(new DisplacedFile(Holding, "docs/x.txt"), folderHeld: false);

        Assert.Equal((SyncActionKind.KeepDisplaced, DisplacedRules.KeepForLaterReason, "docs/x.txt"), (step.Kind, step.Reason, step.Original));
        Assert.Null(step.Fingerprint);
    }

    [Fact]
    public void A_leftover_still_being_written_is_kept_and_sent_once_it_settles()
    {
        var leftover = LeftoverWith(null, "synced:docs/b.txt:same:AsSynced") with { SettlesIn = TimeSpan.FromSeconds(2) };

        var step = DisplacedRules.Decide(leftover, folderHeld: false);

        Assert.Equal((SyncActionKind.KeepDisplaced, DisplacedRules.KeepForLaterReason, TimeSpan.FromSeconds(2)), (step.Kind, step.Reason, step.SettlesIn));
    }

    [Fact]
    public void A_leftover_still_being_written_with_the_servers_bytes_is_removed_as_any()
    {
        // The removal looks again before and after the move to the trash: a write since the read keeps it.
        var leftover = LeftoverWith("docs/x.txt", "synced:docs/x.txt:same:AsSynced") with { SettlesIn = TimeSpan.FromSeconds(2) };

        Assert.Equal(SyncActionKind.RemoveDisplaced, DisplacedRules.Decide(leftover, folderHeld: false).Kind);
    }

    [Fact]
    public void A_leftover_kept_in_a_held_folder_is_sent_by_a_later_pass()
    {
        var step = DisplacedRules.Decide(LeftoverWith("docs/x.txt", "synced:docs/x.txt:other:AsSynced"), folderHeld: true);

        Assert.Equal((SyncActionKind.KeepDisplaced, DisplacedRules.KeepForLaterReason), (step.Kind, step.Reason));
    }

    [Theory]
    [InlineData(false, "docs/x.txt")]
    [InlineData(true, "docs/x.txt")]
    [InlineData(true, null)]
    public void The_facts_of_a_leftover_are_the_synced_files_and_remote_changes_of_its_folder_with_its_size(bool read, string? original)
    {
        var index = new Dictionary<string, BaseStat>(StringComparer.Ordinal)
        {
            ["docs/x.txt"] = new(FileKind.File, Size, 100, 5),
            ["docs/b.txt"] = new(FileKind.File, Size, 100, 6),
            ["docs/big.txt"] = new(FileKind.File, Size + 1, 100, 7), // another size: cannot hold its bytes
            ["docs/sub"] = new(FileKind.Folder, 0, 0, 8),
            ["other/x.txt"] = new(FileKind.File, Size, 100, 9), // another folder
        };
        var remote = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal)
        {
            ["docs/x.txt"] = new("docs/x.txt", FileKind.File, 10, true, Size, Leftover, 0),
            ["docs/a.txt"] = new("docs/a.txt", FileKind.File, 11, false, Size, Other, 0),
            ["docs/c.txt"] = new("docs/c.txt", FileKind.File, 12, false, Size + 2, Other, 0),
            ["other/a.txt"] = new("other/a.txt", FileKind.File, 13, false, Size, Other, 0),
        };
        var fp = read ? new FileFingerprint(Size, 100, [], Leftover) : null;

        var facts = DisplacedFacts.Of(Holding, original, fp, index, p => new FileRecord(p, FileKind.File, Size, 100, 5, p == "docs/x.txt" ? Leftover : Other),
            (p, _) => p == "docs/b.txt" ? FoundHere.Changed : FoundHere.AsSynced, remote, Local.Stability.Off);

        Assert.Equal((Holding, original, fp), (facts.Holding, facts.Original, facts.Fingerprint));
        if (!read)
        {
            Assert.Empty(facts.Synced);
            Assert.Empty(facts.Remote);
            return;
        }

        Assert.Equal(["docs/b.txt", "docs/x.txt"], facts.Synced.Select(c => c.Path));
        Assert.Equal((FoundHere.Changed, (RemoteEntry?)null), (facts.Synced[0].Here, facts.Synced[0].Remote));
        Assert.Equal((FoundHere.AsSynced, Leftover), (facts.Synced[1].Here, facts.Synced[1].ContentHash));
        Assert.Same(remote["docs/x.txt"], facts.Synced[1].Remote);
        Assert.Equal(["docs/a.txt", "docs/x.txt"], facts.Remote.Select(r => r.Path));
        Assert.Null(facts.SettlesIn);
    }

    [Fact]
    public void The_planner_plans_each_leftover_once_whatever_else_the_pass_holds()
    {
        var kept = LeftoverWith("docs/x.txt", "synced:docs/x.txt:other:AsSynced");
        var removed = LeftoverWith("docs/y.txt", "synced:docs/y.txt:same:AsSynced") with { Holding = Holding + "-y.txt" };
        var snapshot = new LocalSnapshot();
        snapshot.Entries["docs"] = LocalEntry.Folder("docs");
        snapshot.Entries["docs/new.txt"] = new LocalEntry("docs/new.txt", FileKind.File, 3, 100, SettlesIn: null);

        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord>(),
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint> { ["docs/new.txt"] = new(3, 100, [], Other) },
            Remote = new Dictionary<string, RemoteEntry>(),
            Displaced = [kept, removed],
        });

        Assert.Equal(
            [(SyncActionKind.KeepDisplaced, kept.Holding, DisplacedRules.KeepReason), (SyncActionKind.RemoveDisplaced, removed.Holding, DisplacedRules.RemoveReason)],
            plan.Where(a => a.Kind is SyncActionKind.KeepDisplaced or SyncActionKind.RemoveDisplaced).Select(a => (a.Kind, a.Path, a.Reason)));
        Assert.Contains(plan, a => a.Kind == SyncActionKind.Upload && a.Path == "docs/new.txt");
    }

    [Fact]
    public void A_leftover_kept_in_a_folder_that_leaves_for_a_remote_file_is_sent_by_a_later_pass()
    {
        // docs is a folder here and a file remotely: the folder moves aside with what is left in it (the kept copy too),
        // and its files go up from there with the next pass, never under a path that is a file on the server.
        var snapshot = new LocalSnapshot();
        snapshot.Entries["docs"] = LocalEntry.Folder("docs");
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord>(),
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = new Dictionary<string, RemoteEntry> { ["docs"] = new("docs", FileKind.File, 7, false, 3, Other, 0) },
            Displaced = [LeftoverWith("docs/x.txt", "synced:docs/x.txt:other:AsSynced")],
        });

        Assert.Contains(plan, a => a.Kind == SyncActionKind.KindConflict && a.Path == "docs" && a.Reason == SyncPlanner.FolderAgainstFileReason);
        var keep = Assert.Single(plan, a => a.Kind == SyncActionKind.KeepDisplaced);
        Assert.Equal(DisplacedRules.KeepForLaterReason, keep.Reason);
    }

    [Fact]
    public void A_held_plan_holds_the_leftovers_too()
    {
        // A plan the guard holds runs nothing: the leftovers stay hidden, as they are, for the pass that runs.
        var snapshot = new LocalSnapshot();
        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["f"] = new("f", FileKind.File, 3, 100, 5, Other) },
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = new Dictionary<string, RemoteEntry>(),
            Displaced = [LeftoverWith("docs/x.txt", "synced:docs/x.txt:other:AsSynced")],
            Guard = new DeleteGuard { SyncedFiles = 1, FolderEmpty = true },
        });

        Assert.Equal(SyncActionKind.Hold, Assert.Single(plan).Kind);
    }

    private static DisplacedFile LeftoverWith(string? original, string neighbour)
    {
        var parts = neighbour.Split(':');
        var hash = parts[2] == "same" ? Leftover : Other;
        var leftover = new DisplacedFile(Holding, original) { Fingerprint = new FileFingerprint(Size, 100, [], Leftover) };
        if (parts[0] == "synced")
        {
            var remote = parts.Length > 4 && parts[4] == "del" ? new RemoteEntry(parts[1], FileKind.File, 9, true, 0, [], 0) : null;
            return leftover with { Synced = [new DisplacedCandidate(parts[1], Size, hash, Enum.Parse<FoundHere>(parts[3]), remote)] };
        }

        var kind = parts.Length > 3 && parts[3] == "folder" ? FileKind.Folder : FileKind.File;
        return leftover with { Remote = [new RemoteEntry(parts[1], kind, 9, parts.Length > 3 && parts[3] == "del", Size, hash, 0)] };
    }
}
