using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// A synced folder the server lists at another version (<see cref="SyncActionKind.RecordFolder"/>): only where it is a
/// folder here, synced, and live on the server at a newer version does the row take the listed version; nothing else
/// changes what was planned before.
/// </summary>
public sealed class RecordFolderPlanTests
{
    // Here: "folder", "unreadable" (listed by its parent, not entered), "loser" (a case clash's withheld name, no entry), "-".
    // The row is at version 3. Remote: "-" no change, "vN" a live folder at version N, "del" deleted, "file" a file now.
    [Theory]
    [InlineData("folder", "v7", "RecordFolder")]
    [InlineData("unreadable", "v7", "RecordFolder")]
    [InlineData("folder", "v3", null)]
    [InlineData("folder", "v2", null)] // a listing behind the row says nothing the row does not
    [InlineData("folder", "-", null)]
    [InlineData("folder", "del", "DeleteLocalFolder")]
    [InlineData("-", "v7", "CreateLocalFolder")]
    [InlineData("loser", "v7", "Skip")]
    public void A_synced_folder_listed_at_a_newer_version_takes_it_in_its_row_alone(string here, string remote, string? expected)
    {
        var snapshot = new LocalSnapshot();
        if (here is "folder" or "unreadable")
        {
            snapshot.Entries["d"] = LocalEntry.Folder("d");
        }

        if (here is "unreadable" or "loser")
        {
            snapshot.Withheld.Add("d");
        }

        var changes = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal);
        if (remote != "-")
        {
            changes["d"] = remote switch
            {
                "del" => new RemoteEntry("d", FileKind.Folder, 8, true, 0, [], 0),
                _ => new RemoteEntry("d", FileKind.Folder, ulong.Parse(remote[1..], System.Globalization.CultureInfo.InvariantCulture), false, 0, [], 0),
            };
        }

        var plan = SyncPlanner.Plan(new PlanInput
        {
            Base = new Dictionary<string, FileRecord> { ["d"] = new("d", FileKind.Folder, 0, 0, 3, []) },
            Local = snapshot,
            Fingerprints = new Dictionary<string, FileFingerprint>(),
            Remote = changes,
        });

        if (expected is null)
        {
            Assert.Empty(plan);
            return;
        }

        var step = Assert.Single(plan);
        Assert.Equal(Enum.Parse<SyncActionKind>(expected), step.Kind);
        if (step.Kind == SyncActionKind.RecordFolder)
        {
            Assert.Equal(7ul, step.Remote!.Version);
        }
    }

    /// <summary>
    /// Under a case-conflict rename not made this pass, the row is not touched: the step is a withheld skip, remembered,
    /// and applied once the clash is gone (never a row written at a name whose rows the rename would have moved).
    /// </summary>
    [Fact]
    public void Under_a_case_rename_not_made_it_is_held_as_withheld()
    {
        var change = new RemoteEntry("a/sub", FileKind.Folder, 9, false, 0, [], 0);
        var plan = new List<SyncAction>
        {
            new(SyncActionKind.RecordFolder, "a/sub") { Remote = change, Base = new FileRecord("a/sub", FileKind.Folder, 0, 0, 4, []) },
            new(SyncActionKind.RecordFolder, "b") { Remote = new RemoteEntry("b", FileKind.Folder, 5, false, 0, [], 0) },
        };

        LocalCaseRenames.Hold(plan, new HashSet<string>(["a", "a (Case Conflict)"], StringComparer.Ordinal), new Dictionary<string, RemoteEntry> { ["a/sub"] = change });

        Assert.Equal(SyncActionKind.Skip, plan[0].Kind);
        Assert.Equal(SyncPlanner.WithheldReason, plan[0].Reason);
        Assert.Same(change, plan[0].Remote);
        Assert.Equal(SyncActionKind.RecordFolder, plan[1].Kind);
    }
}
