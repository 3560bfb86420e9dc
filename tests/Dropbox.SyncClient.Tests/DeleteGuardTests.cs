using Dropbox.Shared.Errors;
using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>The planner's rule for holding back deletions (<see cref="SyncPlanner.HoldDeletes"/>), and its report.</summary>
public sealed class DeleteGuardTests
{
    [Fact]
    public void A_synced_file_replaced_here_by_a_folder_is_a_remote_delete_the_first_pass_of_an_old_db_holds()
    {
        List<SyncAction> plan = [new(SyncActionKind.KindConflict, "A") { Reason = SyncPlanner.ReplacedHereByFolderReason, BaseVersion = 3 }];

        var held = SyncPlanner.HoldDeletes(plan, new DeleteGuard { SyncedFiles = 100, AdoptingOldDb = true, Minimum = 10 });

        Assert.NotNull(held); // without: nothing held, the server's file deleted on an unconfirmed first pass
        Assert.Equal(DeleteHoldReason.OldDbFirstPass, held.Reason);
        Assert.Equal("A", held.Example);
    }

    [Theory]
    [InlineData(SyncPlanner.ReplacedByFolderReason)]
    [InlineData(SyncPlanner.ReplacedHereByFolderReason)]
    public void Files_a_kind_conflict_deletes_count_toward_the_mass_delete_guard(string reason)
    {
        var plan = Enumerable.Range(0, 12).Select(i => new SyncAction(SyncActionKind.KindConflict, $"f{i}") { Reason = reason, BaseVersion = 1 }).ToList();

        var held = SyncPlanner.HoldDeletes(plan, new DeleteGuard { SyncedFiles = 20, Minimum = 10, Share = 0.5 });

        Assert.NotNull(held);
        Assert.Equal(DeleteHoldReason.MassDelete, held.Reason);
        Assert.Equal(12, held.LocalDeletes + held.RemoteDeletes);
    }

    [Fact]
    public void A_file_kept_as_a_conflicted_copy_against_a_remote_folder_is_no_delete()
    {
        var plan = Enumerable.Range(0, 12).Select(i => new SyncAction(SyncActionKind.KindConflict, $"f{i}") { Reason = SyncPlanner.FileAgainstFolderReason }).ToList();

        Assert.Null(SyncPlanner.HoldDeletes(plan, new DeleteGuard { SyncedFiles = 20, Minimum = 10, Share = 0.5 }));
    }

    [Theory]
    [InlineData(9, 10, 10, false)]      // below the minimum count
    [InlineData(10, 11, 10, true)]      // at the minimum, more than half
    [InlineData(10, 100, 10, false)]    // a small share
    [InlineData(51, 100, 10, true)]     // more than half
    [InlineData(50, 100, 10, false)]    // exactly half is allowed
    [InlineData(12, 12, 10, true)]      // everything
    [InlineData(1000, 100000, 10, false)]
    [InlineData(1, 1, 0, true)]         // a minimum below 1 counts as 1
    [InlineData(0, 0, 0, false)]        // nothing deleted never trips
    public void The_share_rule_trips_only_on_a_large_share_at_or_above_the_minimum(int deletes, long synced, int minimum, bool trips)
    {
        Assert.Equal(trips, SyncPlanner.TripsMassDelete(deletes, synced, 0.5, minimum));
    }

    // local/remote: file deletes here and on the server; folders: folder deletes on the server; synced: synced files.
    [Theory]
    [InlineData(0, 0, 0, 10, true, false, false, null)]                 // an empty folder that deletes nothing
    [InlineData(0, 1, 0, 100, true, false, false, "EmptyFolder")]       // one file of many deleted on the server from an empty folder
    [InlineData(0, 1, 0, 100, true, true, false, null)]                 // ... confirmed
    [InlineData(1, 0, 0, 100, true, false, false, null)]                // an empty folder that deletes only here
    [InlineData(0, 0, 3, 100, true, false, false, null)]                // ... or only folders on the server (the share rule counts files)
    [InlineData(0, 12, 0, 12, false, false, false, "MassDelete")]       // every synced file deleted remotely
    [InlineData(12, 0, 0, 12, false, false, false, "MassDelete")]       // ... or here
    [InlineData(6, 6, 0, 12, false, false, false, "MassDelete")]        // both sides count together
    [InlineData(6, 6, 0, 12, false, true, false, null)]                 // ... confirmed
    [InlineData(0, 9, 0, 9, false, false, false, null)]                 // below the minimum
    [InlineData(0, 10, 0, 19, false, false, false, "MassDelete")]       // 10 > 9.5
    [InlineData(0, 10, 0, 20, false, false, false, null)]               // exactly half
    [InlineData(0, 0, 20, 0, false, false, false, null)]                // folder deletes are not counted by the share rule
    [InlineData(0, 1, 0, 100, false, false, true, "OldDbFirstPass")]    // the first pass of an old db deletes a file on the server
    [InlineData(0, 0, 1, 100, false, false, true, "OldDbFirstPass")]    // ... or a folder
    [InlineData(3, 0, 0, 100, false, false, true, null)]                // ... but deletes only here
    [InlineData(0, 1, 1, 100, false, true, true, null)]                 // ... confirmed
    [InlineData(0, 12, 0, 12, false, false, true, "MassDelete")]        // the share rule is reported first
    [InlineData(0, 12, 0, 12, true, false, true, "EmptyFolder")]        // and the empty folder before it
    public void Deletions_are_held_back_by_the_guard_unless_confirmed(int local, int remote, int folders, long synced, bool folderEmpty, bool confirmed, bool adopting, string? expected)
    {
        var plan = Plan(local, remote, folders);
        var guard = new DeleteGuard { SyncedFiles = synced, FolderEmpty = folderEmpty, Confirmed = confirmed, AdoptingOldDb = adopting, Share = 0.5, Minimum = 10 };

        var held = SyncPlanner.HoldDeletes(plan, guard);

        Assert.Equal(expected, held?.Reason.ToString());
        if (held is not null)
        {
            Assert.Equal(local, held.LocalDeletes);
            Assert.Equal(held.Reason == DeleteHoldReason.OldDbFirstPass ? remote + folders : remote, held.RemoteDeletes);
            Assert.Equal(synced, held.SyncedFiles);
        }
    }

    [Fact]
    public void A_held_plan_is_one_hold_step_that_says_what_was_held_and_nothing_else_runs()
    {
        var bases = Enumerable.Range(0, 12).ToDictionary(i => $"f{i}", i => new FileRecord($"f{i}", FileKind.File, 10 + i, 100, 5, [(byte)i]), StringComparer.Ordinal);
        var input = new PlanInput
        {
            Base = bases,
            Local = new LocalSnapshot(),
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = new Dictionary<string, RemoteEntry>(),
            Guard = new DeleteGuard { SyncedFiles = 12, Share = 0.5, Minimum = 10 },
        };

        var plan = SyncPlanner.Plan(input);

        var hold = Assert.Single(plan);
        Assert.Equal(SyncActionKind.Hold, hold.Kind);
        Assert.Equal(new DeleteHold(DeleteHoldReason.MassDelete, 0, 12, 12, 0.5, "f0"), SyncPlanner.HeldBack(plan));
        Assert.Equal(12, SyncPlanner.Plan(input with { Guard = input.Guard! with { Confirmed = true } }).Count(a => a.Kind == SyncActionKind.DeleteRemote));
        Assert.Equal(12, SyncPlanner.Plan(input with { Guard = null }).Count(a => a.Kind == SyncActionKind.DeleteRemote));
    }

    [Theory]
    [InlineData("EmptyFolder", "the sync folder is empty, and this pass would delete 3 of 40 synced files on the server", false)]
    [InlineData("MassDelete", "this pass would delete 5 of 40 synced files (3 remotely, 2 locally), more than 50", false)]
    [InlineData("OldDbFirstPass", "would delete 3 entries on the server that are missing from '/f' (for example 'a/b')", true)]
    public void A_held_plan_stops_the_pass_with_what_it_would_delete_and_how_to_confirm(string reason, string says, bool folderIdentity)
    {
        var stop = MassDeleteGuard.Stop(new DeleteHold(Enum.Parse<DeleteHoldReason>(reason), 2, 3, 40, 0.5, "a/b"), "/f");

        Assert.Contains(says, stop.Message, StringComparison.Ordinal);
        Assert.Contains("sync --allow-mass-delete", stop.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorKind.Conflict, stop.Kind);
        Assert.True(stop.Details.ContainsKey(MassDeleteGuard.DetailKey));
        Assert.Equal(folderIdentity, stop.Details.ContainsKey(FolderIdentity.DetailKey));
    }

    private static List<SyncAction> Plan(int local, int remote, int folders) =>
    [
        .. Enumerable.Range(0, local).Select(i => new SyncAction(SyncActionKind.DeleteLocal, $"l{i}")),
        .. Enumerable.Range(0, remote).Select(i => new SyncAction(SyncActionKind.DeleteRemote, $"r{i}")),
        .. Enumerable.Range(0, folders).Select(i => new SyncAction(SyncActionKind.DeleteRemoteFolder, $"d{i}")),
        new SyncAction(SyncActionKind.Upload, "u"),
        new SyncAction(SyncActionKind.Download, "w"),
    ];
}
