using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The remote deletes a case-conflict folder move finds at its moved rows (<see cref="LocalCaseRenames.GoneBeforeMove"/>)
/// and how they are remembered beside the followed moves (<see cref="FollowedCaseMoves.WithGone"/>).
/// </summary>
public sealed class GoneBeforeMoveTests
{
    private const string Folder = "docs (Case Conflict)";

    private static FileRecord Row(string path, FileKind kind = FileKind.File, ulong version = 7) => new(path, kind, 3, 5, version, kind == FileKind.File ? [1, 2, 3] : []);

    private static RemoteEntry Deleted(string path) => new(path, FileKind.File, 7, true, 3, [1, 2, 3], 0);

    [Fact]
    public void A_moved_row_the_listing_lacks_under_a_listed_folder_is_gone_at_its_version_and_content()
    {
        var rows = new[]
        {
            Row(Folder, FileKind.Folder),              // the listed folder itself: its version is the move's own
            Row($"{Folder}/kept.txt"),                 // listed
            Row($"{Folder}/gone.txt", version: 9),     // not listed
            Row($"{Folder}/sub", FileKind.Folder),     // not listed, a folder
            Row($"{Folder} 2/other.txt"),              // not under the listed folder (a name it starts)
            Row("x (Case Conflict).txt"),              // moved alone, not with a folder
        };
        var listed = new HashSet<string>(StringComparer.Ordinal) { Folder, $"{Folder}/kept.txt" };

        var gone = LocalCaseRenames.GoneBeforeMove(rows, [Folder], listed);

        Assert.Equal([$"{Folder}/gone.txt", $"{Folder}/sub"], gone.Select(e => e.Path));
        Assert.All(gone, e => Assert.True(e.Deleted));
        Assert.Equal(9ul, gone[0].Version);
        Assert.Equal([1, 2, 3], gone[0].ContentHash);
        Assert.Equal(FileKind.Folder, gone[1].Kind);
    }

    [Fact]
    public void No_folder_listed_finds_nothing_gone()
    {
        Assert.Empty(LocalCaseRenames.GoneBeforeMove([Row($"{Folder}/gone.txt")], [], new HashSet<string>(StringComparer.Ordinal)));
    }

    [Fact]
    public void A_followed_move_at_the_same_path_is_remembered_over_a_delete_and_all_in_path_order()
    {
        var move = new RemoteEntry($"{Folder}/b.txt", FileKind.File, 12, false, 3, [4], 0) { MovedFrom = "docs/b.txt" };

        var kept = FollowedCaseMoves.WithGone([move], [Deleted($"{Folder}/c.txt"), Deleted($"{Folder}/b.txt"), Deleted($"{Folder}/a.txt")]);

        Assert.Equal([$"{Folder}/a.txt", $"{Folder}/b.txt", $"{Folder}/c.txt"], kept.Select(e => e.Path));
        Assert.Same(move, kept[1]);
    }

    [Fact]
    public void Deletes_past_the_bound_of_followed_moves_are_all_remembered_and_read_back()
    {
        // As many followed moves as the bound allows, and more deletes: none is dropped (dropped, its file stayed here for
        // good while the server lacked it).
        var moves = Enumerable.Range(0, FollowedCaseMoves.MaxRemembered)
            .Select(i => new RemoteEntry($"Docs/m{i:D5}.txt", FileKind.File, 12, false, 3, [4], 0) { MovedFrom = $"docs/m{i:D5}.txt" }).ToList();
        var gone = Enumerable.Range(0, 5).Select(i => Deleted($"{Folder}/g{i}.txt")).ToList();

        var kept = FollowedCaseMoves.WithGone(moves, gone);
        var json = "[" + string.Join(",", kept.Select(e =>
            $"{{\"path\":\"{e.Path}\",\"kind\":0,\"version\":{e.Version},\"deleted\":{(e.Deleted ? "true" : "false")},\"size\":3,\"hash\":\"04\",\"mtime\":0,\"executable\":false}}")) + "]";
        var read = FollowedCaseMoves.Load(json);

        Assert.Equal(FollowedCaseMoves.MaxRemembered + 5, kept.Count);
        Assert.Equal(gone.Select(e => e.Path), kept.Where(e => e.Deleted).Select(e => e.Path));
        Assert.Equal(FollowedCaseMoves.MaxRemembered + 5, read.Count);
        Assert.Equal(5, read.Count(e => e.Deleted));
    }
}
