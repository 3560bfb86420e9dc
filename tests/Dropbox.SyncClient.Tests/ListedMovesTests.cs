using Dropbox.SyncClient.State;
using Dropbox.SyncClient.Sync;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// <see cref="MoveDetection.LinkListedMoves"/>: which ends of a full listing are linked as a move (each case here would
/// otherwise be a delete into the trash and a download), and which are left alone because the pair is not certain.
/// </summary>
public sealed class ListedMovesTests
{
    private static readonly byte[] Content = [7, 1, 2, 3, 4, 5, 6, 8, 9];
    private static readonly byte[] Other = [9, 1, 2, 3, 4, 5, 6, 8, 7];

    [Fact]
    public void One_deleted_synced_file_and_one_new_file_of_its_content_are_linked()
    {
        var remote = Remote(Deleted("old.txt", version: 5), Live("new.txt", Content));
        var synced = Synced(("old.txt", Content, 3));

        Assert.Equal(1, Link(remote, synced));

        Assert.Equal("new.txt", remote["old.txt"].MovedTo);
        Assert.Equal("old.txt", remote["new.txt"].MovedFrom);
        Assert.True(remote["old.txt"].Deleted);
        Assert.Equal(Content, remote["new.txt"].ContentHash);
    }

    [Fact]
    public void Two_deleted_files_of_the_same_content_link_neither()
    {
        var remote = Remote(Deleted("a.txt", 5), Deleted("b.txt", 6), Live("new.txt", Content));
        var synced = Synced(("a.txt", Content, 3), ("b.txt", Content, 4));

        Assert.Equal(0, Link(remote, synced));
        Assert.All(remote.Values, e => Assert.Null(e.MovedTo ?? e.MovedFrom));
    }

    [Fact]
    public void Two_new_files_of_the_same_content_link_neither()
    {
        var remote = Remote(Deleted("old.txt", 5), Live("x.txt", Content), Live("y.txt", Content));
        var synced = Synced(("old.txt", Content, 3));

        Assert.Equal(0, Link(remote, synced));
        Assert.All(remote.Values, e => Assert.Null(e.MovedTo ?? e.MovedFrom));
    }

    [Theory]
    [InlineData(3)] // the delete's version is the synced one: not a change made after it
    [InlineData(2)] // older than what was synced: a server that went back, whose own rule applies
    public void A_delete_not_newer_than_the_synced_version_is_not_linked(ulong deleteVersion)
    {
        var remote = Remote(Deleted("old.txt", deleteVersion), Live("new.txt", Content));

        Assert.Equal(0, Link(remote, Synced(("old.txt", Content, 3))));
    }

    [Fact]
    public void Other_content_a_new_file_already_synced_or_an_unknown_hash_is_not_linked()
    {
        var otherContent = Remote(Deleted("old.txt", 5), Live("new.txt", Other));
        Assert.Equal(0, Link(otherContent, Synced(("old.txt", Content, 3))));

        var otherSize = Remote(Deleted("old.txt", 5), Live("new.txt", Content, size: 99));
        Assert.Equal(0, Link(otherSize, Synced(("old.txt", Content, 3))));

        var alreadySynced = Remote(Deleted("old.txt", 5), Live("new.txt", Content));
        Assert.Equal(0, Link(alreadySynced, Synced(("old.txt", Content, 3), ("new.txt", Content, 4))));

        var unknownHash = Remote(Deleted("old.txt", 5), Live("new.txt", Content));
        var synced = Synced(("old.txt", Content, 3));
        synced["old.txt"] = synced["old.txt"] with { HashPrefix = 0 };
        Assert.Equal(0, Link(unknownHash, synced));
    }

    [Fact]
    public void Folders_and_case_conflict_names_are_not_linked()
    {
        var folder = Remote(
            new RemoteEntry("old", FileKind.Folder, 5, true, 0, [], 0),
            new RemoteEntry("new", FileKind.Folder, 6, false, 0, [], 0));
        var folders = new Dictionary<string, BaseStat>(StringComparer.Ordinal) { ["old"] = new(FileKind.Folder, 0, 0, 3) };
        Assert.Equal(0, Link(folder, folders));

        var marked = Remote(Deleted("img.dat", 5), Live("img (Case Conflict).dat", Content));
        Assert.Equal(0, Link(marked, Synced(("img.dat", Content, 3))));
    }

    [Fact]
    public void Ends_the_feed_already_linked_are_left_as_they_are()
    {
        var remote = Remote(
            Deleted("old.txt", 5) with { MovedTo = "feed.txt" },
            Live("feed.txt", Content) with { MovedFrom = "old.txt" },
            Live("new.txt", Content));

        Assert.Equal(0, Link(remote, Synced(("old.txt", Content, 3))));
        Assert.Equal("feed.txt", remote["old.txt"].MovedTo);
        Assert.Null(remote["new.txt"].MovedFrom);
    }

    [Fact]
    public void A_pair_whose_new_path_is_taken_here_is_not_linked()
    {
        // Something the scan leaves out (an ignored or unreadable name) is there: the rename would be refused on every pass.
        var remote = Remote(Deleted("old.txt", 5), Live("new.txt", Content));

        Assert.Equal(0, Link(remote, Synced(("old.txt", Content, 3)), occupied: p => p == "new.txt"));
        Assert.Null(remote["old.txt"].MovedTo);
    }

    private static int Link(Dictionary<string, RemoteEntry> remote, IReadOnlyDictionary<string, BaseStat> synced, Func<string, bool>? occupied = null) =>
        MoveDetection.LinkListedMoves(remote, synced, occupied ?? (_ => false));

    private static RemoteEntry Deleted(string path, ulong version) => new(path, FileKind.File, version, true, 0, [], 0);

    private static RemoteEntry Live(string path, byte[] hash, long size = 10) => new(path, FileKind.File, 6, false, size, hash, 0);

    private static Dictionary<string, RemoteEntry> Remote(params RemoteEntry[] entries) =>
        entries.ToDictionary(e => e.Path, StringComparer.Ordinal);

    private static Dictionary<string, BaseStat> Synced(params (string Path, byte[] Hash, ulong Version)[] files) =>
        files.ToDictionary(f => f.Path, f => new BaseStat(FileKind.File, 10, 0, f.Version) { HashPrefix = BaseStat.PrefixOf(f.Hash) }, StringComparer.Ordinal);
}
