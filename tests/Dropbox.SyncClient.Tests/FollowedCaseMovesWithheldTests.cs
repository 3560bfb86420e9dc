using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// Which carried deletes (at paths the server never held) a pass remembers on: those whose path it left withheld, while
/// the delete is still its view's change there (<see cref="FollowedCaseMoves.StillWithheld"/>). The engine's case is
/// <see cref="WithheldCarriedDeleteTests"/>.
/// </summary>
public sealed class FollowedCaseMovesWithheldTests
{
    private const string Moved = "docs (Case Conflict)";

    private static RemoteEntry Deleted(string path, ulong version) => new(path, FileKind.File, version, Deleted: true, 3, [1, 2, 3], 0);

    private static RemoteEntry Live(string path, ulong version) => new(path, FileKind.File, version, Deleted: false, 3, [1, 2, 3], 0);

    [Fact]
    public void Only_the_plain_deletes_put_in_the_view_as_remembered_are_carried()
    {
        var remembered = new List<RemoteEntry>
        {
            Deleted($"{Moved}/x.txt", 4),
            Deleted("docs", 6) with { MovedTo = Moved },
            Live(Moved, 6) with { MovedFrom = "docs" },
            Deleted($"{Moved}/listed.txt", 4),
            Deleted($"{Moved}/synced since.txt", 4),
        };
        var view = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal) { [$"{Moved}/listed.txt"] = Live($"{Moved}/listed.txt", 9) };

        var carried = FollowedCaseMoves.AddTo(remembered, view, p => p == $"{Moved}/synced since.txt" ? 8 : null);

        Assert.Equal([$"{Moved}/x.txt"], carried.Select(e => e.Path));
        Assert.Same(remembered[0], view[$"{Moved}/x.txt"]);
        Assert.False(view[$"{Moved}/listed.txt"].Deleted); // a change listed since is newer: it stays
    }

    [Fact]
    public void A_carried_delete_is_remembered_on_only_while_its_path_is_withheld_and_it_is_the_views_change_there()
    {
        var withheld = Deleted($"{Moved}/x.txt", 4);
        var decided = Deleted($"{Moved}/y.txt", 4);
        var replaced = Deleted($"{Moved}/z.txt", 4);
        var view = new Dictionary<string, RemoteEntry>(StringComparer.Ordinal)
        {
            [withheld.Path] = withheld,
            [decided.Path] = decided,
            [replaced.Path] = Live(replaced.Path, 9),
        };

        var kept = FollowedCaseMoves.StillWithheld([withheld, decided, replaced], view, new HashSet<string>(StringComparer.Ordinal) { withheld.Path, replaced.Path });

        Assert.Equal([withheld], kept);
    }
}
