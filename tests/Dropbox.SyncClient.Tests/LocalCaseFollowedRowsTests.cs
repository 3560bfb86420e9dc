using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Which synced rows follow a local folder rename that follows another device's server move (<see cref="LocalCasePlan"/>,
/// <see cref="LocalCaseRenames.FollowedMove"/>): those the listing shows moved there with the folder, whatever the new end
/// holds since, with their own version unless the new end is the move's unchanged echo. No disk.
/// </summary>
public sealed class LocalCaseFollowedRowsTests
{
    private const string From = "docs";
    private const string To = "docs (Case Conflict)";
    private static readonly byte[] H1 = [1];
    private static readonly byte[] H2 = [2];

    [Fact]
    public void Rows_follow_the_folder_s_move_whatever_the_server_did_at_the_new_end_since()
    {
        var remote = Moved("echo.txt", "edited.txt", "deleted.txt", "movedon.txt");
        remote[To + "/echo.txt"] = Live(To + "/echo.txt", 9, H1) with { MovedFrom = From + "/echo.txt" };
        remote[To + "/edited.txt"] = Live(To + "/edited.txt", 10, H2);
        remote[To + "/deleted.txt"] = new RemoteEntry(To + "/deleted.txt", FileKind.File, 11, Deleted: true, 0, [], 0);
        remote[To + "/movedon.txt"] = new RemoteEntry(To + "/movedon.txt", FileKind.File, 12, Deleted: true, 0, [], 0) { MovedTo = "other/movedon.txt" };
        remote["other/movedon.txt"] = Live("other/movedon.txt", 12, H1) with { MovedFrom = To + "/movedon.txt" };

        var bases = PlannedBases(remote, "echo.txt", "edited.txt", "deleted.txt", "movedon.txt");

        Assert.Equal(9UL, bases[To + "/echo.txt"].Version); // the move's unchanged echo: nothing left to do
        foreach (var name in new[] { "edited.txt", "deleted.txt", "movedon.txt" })
        {
            // Its own state: the next pass applies the server's change against it (a download, a delete here, a move here).
            Assert.Equal((5UL, H1), (bases[To + "/" + name].Version, bases[To + "/" + name].ContentHash));
            Assert.False(bases.ContainsKey(From + "/" + name), $"the row of '{name}' stayed at the old name");
        }
    }

    [Fact]
    public void A_file_the_rename_carries_whose_server_path_went_on_is_moved_there_from_where_the_rename_leaves_it()
    {
        // moved.txt: moved on from under the new name; out.txt: moved out of the folder before it; both as synced there.
        // nocopy.txt's new end has other content, noctime.txt's row no ctime, taken.txt's new path is taken here: no move.
        var remote = Moved("moved.txt", "nocopy.txt", "noctime.txt", "taken.txt");
        foreach (var name in new[] { "moved.txt", "nocopy.txt", "noctime.txt", "taken.txt" })
        {
            remote[To + "/" + name] = new RemoteEntry(To + "/" + name, FileKind.File, 12, Deleted: true, 0, [], 0) { MovedTo = "other/" + name };
            remote["other/" + name] = Live("other/" + name, 12, name == "nocopy.txt" ? H2 : H1) with { MovedFrom = To + "/" + name };
        }

        remote[From + "/out.txt"] = new RemoteEntry(From + "/out.txt", FileKind.File, 7, Deleted: true, 0, [], 0) { MovedTo = "other/out.txt" };
        remote["other/out.txt"] = Live("other/out.txt", 7, H1) with { MovedFrom = From + "/out.txt" };
        var snapshot = new LocalSnapshot();
        snapshot.Entries["other/taken.txt"] = new LocalEntry("other/taken.txt", FileKind.File, 3, 100, null);

        var (bases, steps, planned) = Plan(remote, ["moved.txt", "out.txt", "nocopy.txt", "noctime.txt", "taken.txt"], withoutCtime: ["noctime.txt"], snapshot);

        var moves = steps.Where(a => a.Kind == SyncActionKind.MoveLocal).Select(a => $"{a.Path} -> {a.ToPath} (row {a.Base!.Path})").Order(StringComparer.Ordinal).ToList();
        Assert.Equal([$"{To}/moved.txt -> other/moved.txt (row {To}/moved.txt)", $"{To}/out.txt -> other/out.txt (row {From}/out.txt)"], moves);
        Assert.Equal(5UL, bases[From + "/out.txt"].Version); // the server never had it under the new name: the row moves with the file only
        foreach (var gone in new[] { "other/moved.txt", "other/out.txt", To + "/moved.txt", From + "/out.txt" })
        {
            Assert.False(planned.Remote.ContainsKey(gone), $"'{gone}' is still in the plan's remote view: planned twice");
        }

        Assert.True(planned.Remote.ContainsKey("other/nocopy.txt") && planned.Remote.ContainsKey("other/noctime.txt") && planned.Remote.ContainsKey("other/taken.txt"));
    }

    [Fact]
    public void A_row_does_not_follow_a_move_whose_new_end_came_from_another_path()
    {
        // The old path's delete names the new one, but the server's entry there says it came from elsewhere: taken as
        // this row's, its state would replace the file here on the next pass.
        var remote = Moved("x.txt");
        remote[To + "/x.txt"] = Live(To + "/x.txt", 9, H2) with { MovedFrom = "other/z.txt" };

        var bases = PlannedBases(remote, "x.txt");

        Assert.False(bases.ContainsKey(To + "/x.txt"), "the row took an unrelated file's place");
        Assert.Equal(5UL, bases[From + "/x.txt"].Version);
    }

    [Fact]
    public void A_remembered_withheld_row_stays_with_the_rename_only_where_the_server_moved_it_to_its_path_under_the_followed_name()
    {
        // Withheld by a followed rename not made: x.txt went with its folder, z.txt elsewhere before it, w.txt to another
        // name of the marker; only x.txt's row may follow (the others' server paths are not under the followed name).
        var remote = Moved("x.txt");
        remote[From + "/z.txt"] = new RemoteEntry(From + "/z.txt", FileKind.File, 7, Deleted: true, 0, [], 0) { MovedTo = "other/z.txt" };
        remote[From + "/w.txt"] = new RemoteEntry(From + "/w.txt", FileKind.File, 7, Deleted: true, 0, [], 0) { MovedTo = To + " 2/w.txt" };
        var clash = new LocalCaseClash(From, IsDirectory: true) { MovedAwayTo = To, SyncedUnder = [From, From + "/w.txt", From + "/x.txt", From + "/z.txt"] };
        var remembered = new HashSet<string>(StringComparer.Ordinal) { From + "/w.txt", From + "/x.txt", From + "/z.txt" };

        var unsure = Assert.Single(CaseConflicts.Unsure([clash], remembered, remote));

        Assert.Equal([From, From + "/x.txt"], unsure.SyncedUnder);
    }

    [Theory]
    [InlineData("docs/x.txt", "docs (Case Conflict)/x.txt", "docs (Case Conflict)")]
    [InlineData("docs/x.txt", "docs (Case Conflict 12)/x.txt", "docs (Case Conflict 12)")]
    [InlineData("docs/x.txt", "notes (Case Conflict)/x.txt", null)] // another name's resolution: where x.txt went, not docs
    [InlineData("docs/x.txt", "docs (Case Conflicts)/x.txt", null)]
    [InlineData("docs/x.txt", "docs (Case Conflict 0)/x.txt", null)]
    [InlineData("docs/x.txt", "Docs (Case Conflict)/x.txt", null)]
    [InlineData("docs/x.txt", "a/docs (Case Conflict)/x.txt", null)]
    public void A_folder_follows_only_a_move_to_a_case_conflict_name_of_its_own(string synced, string movedTo, string? followed)
    {
        var index = new Dictionary<string, BaseStat>(StringComparer.Ordinal) { [synced] = default };
        var remote = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal)
        {
            [synced] = new RemoteEntry(synced, FileKind.File, 8, Deleted: true, 0, [], 0) { MovedTo = movedTo },
        };

        Assert.Equal(followed, LocalCaseFacts.MovedAwayTo(From, index, remote));
    }

    [Theory]
    [InlineData("Report (Case Conflict).txt", true)]
    [InlineData("Report (Case Conflict 2).txt", true)]
    [InlineData("Report (Case Conflict).txt.bak", false)]
    [InlineData("Report (Case Conflict) 2.txt", false)]
    [InlineData("Notes (Case Conflict).txt", false)]
    public void A_file_s_case_conflict_name_keeps_its_extension(string name, bool isOwn) =>
        Assert.Equal(isOwn, LocalCaseFacts.IsCaseConflictNameOf(name, "Report.txt"));

    /// <summary>The listing's old ends of <paramref name="names"/>, each deleted and naming its path under the new name.</summary>
    private static Dictionary<string, RemoteEntry> Moved(params string[] names)
    {
        var remote = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal)
        {
            [From] = new RemoteEntry(From, FileKind.Folder, 8, Deleted: true, 0, [], 0) { MovedTo = To },
            [To] = new RemoteEntry(To, FileKind.Folder, 8, Deleted: false, 0, [], 0) { MovedFrom = From },
        };
        foreach (var name in names)
        {
            remote[From + "/" + name] = new RemoteEntry(From + "/" + name, FileKind.File, 8, Deleted: true, 0, [], 0) { MovedTo = To + "/" + name };
        }

        return remote;
    }

    private static RemoteEntry Live(string path, ulong version, byte[] hash) => new(path, FileKind.File, version, Deleted: false, 3, hash, 0);

    /// <summary>The merge base the plan is made over once the followed rename of 'docs' (its rows synced at version 5) is planned.</summary>
    private static Dictionary<string, FileRecord> PlannedBases(Dictionary<string, RemoteEntry> remote, params string[] names) =>
        Plan(remote, names).Bases;

    /// <summary>The plan's view and steps once the followed rename of 'docs' is planned; its rows synced at version 5, with a ctime unless <paramref name="withoutCtime"/>.</summary>
    private static (Dictionary<string, FileRecord> Bases, List<SyncAction> Steps, PlanInput Planned) Plan(Dictionary<string, RemoteEntry> remote, string[] names,
        string[]? withoutCtime = null, LocalSnapshot? snapshot = null)
    {
        var bases = new Dictionary<string, FileRecord>(StringComparer.Ordinal) { [From] = new FileRecord(From, FileKind.Folder, 0, 0, 4, []) };
        foreach (var name in names)
        {
            bases[From + "/" + name] = new FileRecord(From + "/" + name, FileKind.File, 3, 100, 5, H1) { ChangeTimeNs = withoutCtime?.Contains(name) == true ? null : 777 };
        }

        snapshot ??= new LocalSnapshot();
        snapshot.Withheld.Add(From); // the scan's loser
        var clash = new LocalCaseClash(From, IsDirectory: true)
        {
            MovedAwayTo = To,
            FreeName = To + " 2",
            SyncedUnder = [.. bases.Keys.Order(StringComparer.Ordinal)],
        };
        var input = new PlanInput
        {
            Base = bases,
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = remote,
            LocalCaseClashes = [clash],
        };

        var steps = new List<SyncAction>();
        var planned = LocalCasePlan.Plan(input, steps);
        var rename = steps[0];
        Assert.True(rename is { Kind: SyncActionKind.CaseRenameLocal, ToPath: To, LocalCase.Followed: true }, "setup: not a followed rename: " + rename);
        return (new Dictionary<string, FileRecord>(planned.Base, StringComparer.Ordinal), steps.Skip(1).ToList(), planned);
    }
}
