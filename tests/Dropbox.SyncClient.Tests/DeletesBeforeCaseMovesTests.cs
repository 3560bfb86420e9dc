using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// <see cref="DeletesBeforeCaseMoves"/> over views folded from a feed by the real
/// code (<see cref="RemoteChanges.Apply"/>): which deletes before a case-conflict move are put at the new name, and which
/// are left alone.
/// </summary>
public sealed class DeletesBeforeCaseMovesTests
{
    private const string Moved = "docs (Case Conflict)";

    private static Dropbox.Shared.Protos.Metadata.Change Delete(string path, ulong seq) =>
        new() { Kind = Dropbox.Shared.Protos.Metadata.ChangeKind.Delete, Sequence = seq, OldPath = path, Entry = new() { Path = path, Kind = Dropbox.Shared.Protos.Metadata.EntryKind.File } };

    private static Dropbox.Shared.Protos.Metadata.Change Move(string from, string to, ulong seq, bool folder = false) =>
        new() { Kind = Dropbox.Shared.Protos.Metadata.ChangeKind.Move, Sequence = seq, OldPath = from,
            Entry = new() { Path = to, Version = seq, Kind = folder ? Dropbox.Shared.Protos.Metadata.EntryKind.Folder : Dropbox.Shared.Protos.Metadata.EntryKind.File } };

    private static Dropbox.Shared.Protos.Metadata.Change Commit(string path, ulong seq) =>
        new() { Kind = Dropbox.Shared.Protos.Metadata.ChangeKind.Upsert, Sequence = seq, Entry = new() { Path = path, Version = seq, Kind = Dropbox.Shared.Protos.Metadata.EntryKind.File } };

    private static Dictionary<string, RemoteEntry> View(params Dropbox.Shared.Protos.Metadata.Change[] feed) => View(_ => null, feed);

    /// <summary>The view of <paramref name="feed"/>, with the db's rows at <paramref name="syncedVersion"/>.</summary>
    private static Dictionary<string, RemoteEntry> View(Func<string, ulong?> syncedVersion, params Dropbox.Shared.Protos.Metadata.Change[] feed)
    {
        var changes = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal);
        RemoteChanges.Apply(changes, feed);
        DeletesBeforeCaseMoves.Apply(changes, syncedVersion);
        return changes;
    }

    [Fact]
    public void A_delete_before_the_folders_case_conflict_move_is_put_where_the_move_would_have_carried_it()
    {
        var view = View(Delete("docs/x.txt", 5), Delete("docs/sub/b.txt", 6), Move("docs", Moved, 7, folder: true), Move("docs/sub", $"{Moved}/sub", 8, folder: true), Move("docs/sub/a.txt", $"{Moved}/sub/a.txt", 9));

        Assert.Equal($"{Moved}/x.txt", view["docs/x.txt"].MovedTo);
        Assert.True(view[$"{Moved}/x.txt"] is { Deleted: true, Version: 5, MovedFrom: null });
        Assert.Equal($"{Moved}/sub/b.txt", view["docs/sub/b.txt"].MovedTo);
        Assert.True(view[$"{Moved}/sub/b.txt"] is { Deleted: true, Version: 6 });
    }

    /// <summary>
    /// The db holds the new path synced at a version newer than the delete (made there since, its listing an echo dropped
    /// from the view): the delete stays at the old path. A row there at an older version (one that followed the move) takes it.
    /// </summary>
    [Fact]
    public void A_delete_is_not_put_over_a_new_path_synced_since()
    {
        var newer = View(p => p == $"{Moved}/x.txt" ? 9 : null, Delete("docs/x.txt", 5), Move("docs", Moved, 7, folder: true));
        var followed = View(p => p == $"{Moved}/x.txt" ? 3 : null, Delete("docs/x.txt", 5), Move("docs", Moved, 7, folder: true));

        Assert.True(newer["docs/x.txt"] is { Deleted: true, MovedTo: null });
        Assert.False(newer.ContainsKey($"{Moved}/x.txt"));
        Assert.Equal($"{Moved}/x.txt", followed["docs/x.txt"].MovedTo);
        Assert.True(followed[$"{Moved}/x.txt"] is { Deleted: true, Version: 5 });
    }

    [Fact]
    public void A_delete_after_the_move_of_a_file_made_again_at_the_old_path_is_left_at_the_old_path()
    {
        var view = View(Move("docs", Moved, 7, folder: true), Move("docs/x.txt", $"{Moved}/x.txt", 8), Commit("docs/x.txt", 9), Delete("docs/x.txt", 10));

        Assert.True(view["docs/x.txt"] is { Deleted: true, MovedTo: null });
        Assert.True(view[$"{Moved}/x.txt"] is { Deleted: false, MovedFrom: "docs/x.txt" });
    }

    [Fact]
    public void A_users_own_case_conflict_folder_with_no_move_to_it_and_a_move_to_any_other_name_are_left_alone()
    {
        var own = View(Commit($"{Moved}/x.txt", 3), Delete("docs/x.txt", 5));
        var elsewhere = View(Delete("docs/x.txt", 5), Move("docs", "papers", 7, folder: true));

        Assert.Null(own["docs/x.txt"].MovedTo);
        Assert.True(own[$"{Moved}/x.txt"] is { Deleted: false });
        Assert.Null(elsewhere["docs/x.txt"].MovedTo);
        Assert.False(elsewhere.ContainsKey("papers/x.txt"));
    }

    [Fact]
    public void A_change_listed_at_the_new_path_since_is_kept_and_a_folder_between_moved_elsewhere_stops_it()
    {
        var made = View(Delete("docs/x.txt", 5), Move("docs", Moved, 7, folder: true), Commit($"{Moved}/x.txt", 8));
        var away = View(Delete("docs/sub/b.txt", 5), Move("docs/sub", "elsewhere", 6, folder: true), Move("docs", Moved, 7, folder: true));

        Assert.Null(made["docs/x.txt"].MovedTo);
        Assert.True(made[$"{Moved}/x.txt"] is { Deleted: false, Version: 8 });
        Assert.Null(away["docs/sub/b.txt"].MovedTo);
        Assert.False(away.ContainsKey($"{Moved}/sub/b.txt"));
    }
}
