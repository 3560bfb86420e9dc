using Dropbox.Shared.Protos.Metadata;
using Dropbox.SyncClient.Sync;
using Google.Protobuf;

namespace Dropbox.SyncClient.Tests;

public sealed class RemoteChangesTests
{
    [Fact]
    public void A_version_number_handed_out_again_for_other_content_is_not_taken_for_the_synced_state()
    {
        // A server that went back (restored) may give the synced version's number to another device's edit.
        using var dir = new TempFolder();
        using var state = Dropbox.SyncClient.State.LocalState.Open(dir.CreateSub("state"));
        var synced = Enumerable.Repeat((byte)7, 32).ToArray();
        state.PutFile(new Dropbox.SyncClient.State.FileRecord("f.txt", Dropbox.SyncClient.State.FileKind.File, 5, 1, 9, synced), null);
        var index = state.LoadBaseIndex();
        var other = new RemoteEntry("f.txt", Dropbox.SyncClient.State.FileKind.File, 9, false, 5, Enumerable.Repeat((byte)8, 32).ToArray(), 0);
        var echo = other with { ContentHash = synced };

        var stat = index["f.txt"];
        Assert.False(stat.IsSyncedState(other.Kind, other.Version, other.Size, other.ContentHash));
        Assert.True(stat.IsSyncedState(echo.Kind, echo.Version, echo.Size, echo.ContentHash));
        var remote = new RemoteView(new Dictionary<string, RemoteEntry> { ["f.txt"] = other }, "c", FullListing: false);
        Assert.False(SyncEngine.MarkClean(index, remote, "f.txt", Dropbox.SyncClient.State.FileKind.File, 5, 1));
        Assert.True(remote.Changes.ContainsKey("f.txt"));
        remote.Changes["f.txt"] = echo;
        Assert.True(SyncEngine.MarkClean(index, remote, "f.txt", Dropbox.SyncClient.State.FileKind.File, 5, 1));
        Assert.True(remote.Changes.ContainsKey("f.txt")); // the scan's answer only: the remote view is the planner's to prepare
        Assert.Equal(1, PlannerFastPaths.DropEchoes(remote.Changes, index));
        Assert.Empty(remote.Changes);
    }

    [Fact]
    public void The_newest_change_per_path_wins_and_moves_mark_both_ends()
    {
        var changes = new Dictionary<string, RemoteEntry>();
        RemoteChanges.Apply(changes,
        [
            Upsert(1, "a.txt"),
            Upsert(2, "b.txt"),
            new Change { Sequence = 3, Kind = ChangeKind.Delete, Entry = new FileEntry { Path = "b.txt", Version = 3, Deleted = true } },
            new Change { Sequence = 4, Kind = ChangeKind.Move, OldPath = "a.txt", Entry = new FileEntry { Path = "c.txt", Version = 4, ContentHash = ByteString.CopyFrom(1) } },
            Upsert(5, "d.txt"),
            Upsert(6, "d.txt"),
        ]);

        Assert.True(changes["a.txt"].Deleted);
        Assert.Equal("c.txt", changes["a.txt"].MovedTo);
        Assert.Equal("a.txt", changes["c.txt"].MovedFrom);
        Assert.False(changes["c.txt"].Deleted);
        Assert.True(changes["b.txt"].Deleted);
        Assert.Equal(6UL, changes["d.txt"].Version);
    }

    [Fact]
    public void Echoes_of_the_synced_state_are_dropped_but_newer_changes_deletes_and_moves_are_kept()
    {
        var synced = new Dictionary<string, ulong> { ["echo.txt"] = 1, ["newer.txt"] = 2, ["gone.txt"] = 4, ["from.txt"] = 5, ["to.txt"] = 6 };
        var changes = new Dictionary<string, RemoteEntry>();
        Change[] page =
        [
            Upsert(1, "echo.txt"),
            Upsert(2, "newer.txt"),
            Upsert(3, "newer.txt"),
            new Change { Sequence = 4, Kind = ChangeKind.Delete, Entry = new FileEntry { Path = "gone.txt", Version = 4, Deleted = true } },
            new Change { Sequence = 6, Kind = ChangeKind.Move, OldPath = "from.txt", Entry = new FileEntry { Path = "to.txt", Version = 6 } },
        ];

        RemoteChanges.Apply(changes, page);
        RemoteChanges.DropSynced(changes, page, e => synced.TryGetValue(e.Path, out var v) && v == e.Version);

        Assert.False(changes.ContainsKey("echo.txt"));
        Assert.Equal(3UL, changes["newer.txt"].Version);
        Assert.True(changes["gone.txt"].Deleted);
        Assert.Equal("from.txt", changes["to.txt"].MovedFrom);
        Assert.Equal("to.txt", changes["from.txt"].MovedTo);
    }

    [Fact]
    public void A_live_file_above_the_state_directory_is_kept_for_the_planner_and_its_delete_or_move_away_is_taken()
    {
        // '--state FOLDER/.cfg/client-state': a file at '.cfg' is never taken; the planner moves it aside on the server.
        var refused = new Refusals { Reserved = ".cfg/client-state" };
        var changes = new Dictionary<string, RemoteEntry>();
        RemoteChanges.Apply(changes, [Upsert(1, ".cfg"), Upsert(2, "cfg2"), Upsert(3, "cfg2")], refused);

        Assert.Equal(1UL, refused.AboveStateDirectory[".cfg"].Version);
        Assert.Contains(".cfg", refused.Paths);
        Assert.Empty(refused.Messages); // not reported as refused: it is resolved
        Assert.False(changes.ContainsKey(".cfg"));

        // Gone from there (moved away, then deleted after coming back): nothing takes the folder's place any more.
        RemoteChanges.Apply(changes, [new Change { Sequence = 4, Kind = ChangeKind.Move, OldPath = ".cfg", Entry = new FileEntry { Path = "elsewhere", Version = 4 } }], refused);
        Assert.Empty(refused.AboveStateDirectory);
        Assert.DoesNotContain(".cfg", refused.Paths);
        Assert.Equal("elsewhere", changes[".cfg"].MovedTo);

        RemoteChanges.Apply(changes, [Upsert(5, ".cfg"), new Change { Sequence = 6, Kind = ChangeKind.Delete, Entry = new FileEntry { Path = ".cfg", Version = 6 } }], refused);
        Assert.Empty(refused.AboveStateDirectory);
        Assert.True(changes[".cfg"].Deleted);
        Assert.Empty(refused.Messages);
    }

    private static Change Upsert(ulong seq, string path) => new()
    {
        Sequence = seq,
        Kind = ChangeKind.Upsert,
        Entry = new FileEntry { Path = path, Version = seq, Size = 1, ContentHash = ByteString.CopyFrom((byte)seq) },
    };
}
