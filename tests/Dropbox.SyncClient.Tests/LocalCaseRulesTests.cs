using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The rule for local names that clash in case (<see cref="LocalCaseRules"/>), case by case over facts given here (no
/// disk, no server): which names lose, and whether each follows the server, waits, or is renamed, where to, and how.
/// </summary>
public sealed class LocalCaseRulesTests
{
    private static readonly byte[] Hash = [1];

    [Fact]
    public void A_losing_file_as_synced_whose_server_path_goes_follows_the_server()
    {
        var entry = new LocalEntry("a.txt", FileKind.File, 1, 100, SettlesIn: null);

        var outcome = LocalCaseRules.Decide(new LocalCaseClash("a.txt", false) { FollowsServer = entry, SettlesIn = TimeSpan.FromSeconds(3), FreeName = "a (Case Conflict).txt" });

        Assert.Equal(LocalCaseOutcomeKind.FollowServer, outcome.Kind);
        Assert.Same(entry, outcome.Entry);
    }

    [Fact]
    public void A_file_still_being_written_waits()
    {
        var outcome = LocalCaseRules.Decide(new LocalCaseClash("a.txt", false) { SettlesIn = TimeSpan.FromSeconds(3), FreeName = "a (Case Conflict).txt" });

        Assert.Equal(LocalCaseOutcomeKind.Wait, outcome.Kind);
        Assert.Equal((SyncActionKind.Wait, "a.txt", TimeSpan.FromSeconds(3), SyncPlanner.CaseClashChangingReason), (outcome.Wait!.Kind, outcome.Wait.Path, outcome.Wait.SettlesIn, outcome.Wait.Reason));
        Assert.True(LocalCaseRules.WaitsToRename(new LocalCaseClash("a.txt", false) { SettlesIn = TimeSpan.FromSeconds(3) }));
    }

    [Fact]
    public void A_settled_file_only_here_is_renamed_here_to_the_free_name()
    {
        var outcome = LocalCaseRules.Decide(new LocalCaseClash("d/a.txt", false) { FreeName = "d/a (Case Conflict 2).txt" });

        Assert.Equal((LocalCaseOutcomeKind.Rename, "d/a (Case Conflict 2).txt", false, 0), (outcome.Kind, outcome.Target, outcome.Followed, outcome.OnServer.Count));
        Assert.False(LocalCaseRules.WaitsToRename(new LocalCaseClash("d/a.txt", false)));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void A_name_the_server_holds_is_renamed_there_first_and_here_alone_only_at_a_second_refusal(bool refusedBefore, bool hereAlone)
    {
        var outcome = LocalCaseRules.Decide(new LocalCaseClash("a.txt", false) { OnServer = [("a.txt", 7)], FreeName = "a (Case Conflict).txt", RefusedBefore = refusedBefore });

        Assert.Equal(LocalCaseOutcomeKind.Rename, outcome.Kind);
        Assert.Equal([("a.txt", 7UL)], outcome.OnServer);
        Assert.Equal(hereAlone, outcome.HereAloneIfRefused);
    }

    [Fact]
    public void A_name_the_server_moved_to_a_case_conflict_name_is_followed_there()
    {
        var outcome = LocalCaseRules.Decide(new LocalCaseClash("a.txt", false) { MovedAwayTo = "a (Case Conflict 3).txt", FreeName = null });

        Assert.Equal((LocalCaseOutcomeKind.Rename, "a (Case Conflict 3).txt", true), (outcome.Kind, outcome.Target, outcome.Followed));
    }

    [Fact]
    public void A_moved_away_name_taken_here_is_not_followed_the_free_name_is_taken()
    {
        var outcome = LocalCaseRules.Decide(new LocalCaseClash("a.txt", false) { MovedAwayTo = "a (Case Conflict).txt", MovedAwayTaken = true, FreeName = "a (Case Conflict 2).txt" });

        Assert.Equal((LocalCaseOutcomeKind.Rename, "a (Case Conflict 2).txt", false), (outcome.Kind, outcome.Target, outcome.Followed));
    }

    [Fact]
    public void No_free_name_stops_the_pass_but_a_wait_comes_first()
    {
        Assert.Equal(LocalCaseOutcomeKind.NoFreeName, LocalCaseRules.Decide(new LocalCaseClash("a.txt", false)).Kind);
        Assert.Equal(LocalCaseOutcomeKind.Wait, LocalCaseRules.Decide(new LocalCaseClash("a.txt", false) { SettlesIn = TimeSpan.FromSeconds(1) }).Kind);

        // A folder changed since its walk: the name search came first (as before the rule was split out).
        Assert.Equal(LocalCaseOutcomeKind.NoFreeName, LocalCaseRules.Decide(new LocalCaseClash("d", true) { Walk = FolderObservation.Settled, ChangedSinceWalk = TimeSpan.FromSeconds(2) }).Kind);
    }

    [Fact]
    public void A_folder_not_walked_again_yet_waits_out_its_backoff()
    {
        var outcome = LocalCaseRules.Decide(new LocalCaseClash("d", true) { BackoffLeft = TimeSpan.FromSeconds(40), FreeName = "d (Case Conflict)" });

        Assert.Equal(LocalCaseOutcomeKind.Wait, outcome.Kind);
        Assert.Equal((TimeSpan.FromSeconds(40), SyncPlanner.CaseClashFolderUncheckedReason), (outcome.Wait!.SettlesIn, outcome.Wait.Reason));
        Assert.Null(outcome.Log);
    }

    [Fact]
    public void A_folder_with_something_being_written_in_it_waits()
    {
        var outcome = LocalCaseRules.Decide(new LocalCaseClash("d", true) { Walk = new FolderObservation(TimeSpan.FromSeconds(5), null), FreeName = "d (Case Conflict)" });

        Assert.Equal((TimeSpan.FromSeconds(5), SyncPlanner.CaseClashFolderChangingReason), (outcome.Wait!.SettlesIn, outcome.Wait.Reason));
    }

    [Theory]
    [InlineData(true, 120, 120)] // past the walk's bound: the backoff's interval
    [InlineData(false, 30, 30)] // a read error: the backoff's retry
    public void A_folder_its_walk_could_not_see_whole_waits_for_the_backoff_and_says_so(bool overBound, int recheckSeconds, int waitSeconds)
    {
        var walk = overBound ? FolderObservation.PastBound("over 10 entries") : FolderObservation.Unreadable("'d/x' could not be read");

        var outcome = LocalCaseRules.Decide(new LocalCaseClash("d", true) { Walk = walk, Recheck = TimeSpan.FromSeconds(recheckSeconds), FreeName = "d (Case Conflict)" });

        Assert.Equal((LocalCaseOutcomeKind.Wait, TimeSpan.FromSeconds(waitSeconds), SyncPlanner.CaseClashFolderUncheckedReason), (outcome.Kind, outcome.Wait!.SettlesIn, outcome.Wait.Reason));
        Assert.Contains("is not renamed this pass", outcome.Log, StringComparison.Ordinal);
    }

    [Fact]
    public void A_settled_folder_changed_since_its_walk_waits_else_is_renamed()
    {
        var changed = LocalCaseRules.Decide(new LocalCaseClash("d", true) { Walk = FolderObservation.Settled, ChangedSinceWalk = TimeSpan.FromSeconds(2), FreeName = "d (Case Conflict)" });
        var still = LocalCaseRules.Decide(new LocalCaseClash("d", true) { Walk = FolderObservation.Settled, FreeName = "d (Case Conflict)" });

        Assert.Equal((LocalCaseOutcomeKind.Wait, TimeSpan.FromSeconds(2), SyncPlanner.CaseClashFolderChangingReason), (changed.Kind, changed.Wait!.SettlesIn, changed.Wait.Reason));
        Assert.Contains("changed since it was looked at", changed.Log, StringComparison.Ordinal);
        Assert.Equal((LocalCaseOutcomeKind.Rename, "d (Case Conflict)"), (still.Kind, still.Target));
    }

    [Fact]
    public void A_folder_never_follows_the_server_by_a_file_s_rule()
    {
        var outcome = LocalCaseRules.Decide(new LocalCaseClash("d", true) { FollowsServer = new LocalEntry("d", FileKind.File, 1, 1, null), Walk = FolderObservation.Settled, FreeName = "d (Case Conflict)" });

        Assert.Equal(LocalCaseOutcomeKind.Rename, outcome.Kind);

        // The same for the reader's "stop here" question: a folder found changing waits, whatever a file's rule says.
        var changing = new LocalCaseClash("d", true) { FollowsServer = new LocalEntry("d", FileKind.File, 1, 1, null), Walk = new FolderObservation(TimeSpan.FromSeconds(5), null) };
        Assert.Equal(LocalCaseOutcomeKind.Wait, LocalCaseRules.Decide(changing).Kind);
        Assert.True(LocalCaseRules.WaitsToRename(changing));
    }

    // here: "synced:PATH" (unchanged here), "edited:PATH" (synced, changed here), "new:PATH" (only here), with "-deleted"
    // (deleted on the server this pass); remote: a live remote path.
    [Theory]
    [InlineData("new:readme.txt", "README.txt", "readme.txt")] // a new file beside a remote name differing in case
    [InlineData("edited-deleted:readme.txt", "README.txt", "readme.txt")] // deleted there, changed here: renamed too
    [InlineData("synced-deleted:readme.txt", "README.txt", "")] // deleted there, unchanged here: follows the remote
    [InlineData("edited:readme.txt", "README.txt", "")] // both names on the server: the scan's clash, not this one
    [InlineData("new:docs/a.txt;new:docs/b.txt;new:docs/sub/c.txt", "Docs/x.txt", "docs/")] // the folder once
    [InlineData("synced:docs/old.txt;new:docs/a.txt", "Docs/x.txt", "")] // synced under it: not new here, stays as it is
    [InlineData("new:other.txt", "README.txt", "")]
    public void The_clashing_names_are_the_scans_losers_then_new_folders_once_then_files(string here, string remote, string expected)
    {
        var index = new Dictionary<string, BaseStat>(StringComparer.Ordinal);
        var entries = new List<LocalEntry>();
        var changes = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal) { [remote] = new(remote, FileKind.File, 9, false, 1, Hash, 0) };
        foreach (var item in here.Split(';'))
        {
            var (what, path) = (item[..item.IndexOf(':')], item[(item.IndexOf(':') + 1)..]);
            if (what.EndsWith("-deleted", StringComparison.Ordinal))
            {
                changes[path] = new RemoteEntry(path, FileKind.File, 8, true, 0, [], 0);
            }

            if (what.StartsWith("synced", StringComparison.Ordinal) || what.StartsWith("edited", StringComparison.Ordinal))
            {
                index[path] = new BaseStat(FileKind.File, 1, 100, 3);
            }

            entries.Add(new LocalEntry(path, FileKind.File, what.StartsWith("edited", StringComparison.Ordinal) ? 2 : 1, 100, SettlesIn: null));
        }

        var folds = SyncPlanner.RemoteFolds(changes);

        var clashes = LocalCaseRules.Clashes([("Loser.TXT", false)], entries, index, changes, folds);

        Assert.Equal(("Loser.TXT", false), clashes[0]);
        Assert.Equal(expected, string.Join(";", clashes.Skip(1).Select(c => c.Path + (c.IsDirectory ? "/" : string.Empty))));
        Assert.Equal([("Loser.TXT", false)], LocalCaseRules.Clashes([("Loser.TXT", false)], entries, index, changes, folds: null));
    }

    [Fact]
    public void Clashes_decided_at_once_never_pick_a_name_an_earlier_one_of_the_pass_takes_in_any_case()
    {
        // Read before either is renamed, both found 'a (Case Conflict).txt' free on disk.
        var first = new LocalCaseClash("a.txt", false) { FreeName = "a (Case Conflict).txt" };
        var second = new LocalCaseClash("A.txt", false) { FreeName = "A (Case Conflict).txt", MoreFreeNames = ["A (Case Conflict 2).txt"] };
        var third = new LocalCaseClash("b.txt", false) { MovedAwayTo = "a (CASE CONFLICT).txt", FreeName = "b (Case Conflict).txt", MoreFreeNames = ["b (Case Conflict 2).txt", "b (Case Conflict 3).txt"] };

        var outcomes = LocalCaseRules.DecideAll([first, second, third]);

        Assert.Equal(["a (Case Conflict).txt", "A (Case Conflict 2).txt", "b (Case Conflict).txt"], outcomes.Select(o => o.Target));
        Assert.False(outcomes[2].Followed); // the server's name is taken by the first pick: a free name of its own
    }

    [Fact]
    public void A_clash_whose_free_names_earlier_picks_all_take_has_no_free_name()
    {
        var outcomes = LocalCaseRules.DecideAll([new LocalCaseClash("a.txt", false) { FreeName = "a (Case Conflict).txt" }, new LocalCaseClash("A.txt", false) { FreeName = "A (Case Conflict).txt" }]);

        Assert.Equal([LocalCaseOutcomeKind.Rename, LocalCaseOutcomeKind.NoFreeName], outcomes.Select(o => o.Kind));
    }

    [Fact]
    public void A_rename_looked_at_again_right_before_it_waits_for_a_write_since_its_facts()
    {
        var file = LocalCaseRules.Decide(new LocalCaseClash("a.txt", false) { FreeName = "a (Case Conflict).txt" });
        var folder = LocalCaseRules.Decide(new LocalCaseClash("docs", true) { FreeName = "docs (Case Conflict)", Walk = FolderObservation.Settled });

        Assert.Null(LocalCaseRules.Recheck(file, fileSettlesIn: null, folderChangedSinceWalk: null));
        Assert.Null(LocalCaseRules.Recheck(folder, fileSettlesIn: null, folderChangedSinceWalk: null));
        var fileWait = LocalCaseRules.Recheck(file, TimeSpan.FromSeconds(2), null)!;
        Assert.Equal((LocalCaseOutcomeKind.Wait, TimeSpan.FromSeconds(2), SyncPlanner.CaseClashChangingReason), (fileWait.Kind, fileWait.Wait!.SettlesIn, fileWait.Wait.Reason));
        var folderWait = LocalCaseRules.Recheck(folder, null, TimeSpan.FromSeconds(5))!;
        Assert.Equal((LocalCaseOutcomeKind.Wait, TimeSpan.FromSeconds(5), SyncPlanner.CaseClashFolderChangingReason), (folderWait.Kind, folderWait.Wait!.SettlesIn, folderWait.Wait.Reason));
    }
}
