using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.Sync;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Tests;

/// <summary>The snapshot the plan sees after a local case clash was resolved (<see cref="LocalCaseSnapshot.Apply"/>), without disk.</summary>
public sealed class LocalCaseSnapshotTests
{
    // The snapshot before: entries "a.txt", "docs/x.txt", "docs/sub/y.txt", "other.txt"; empty folder "docs/e"; withheld "B.txt".
    // Expected: "entries|withheld|empty folders", each sorted, ',' between.
    [Theory]
    [InlineData("a.txt", false, "LeftAlone", "docs/sub/y.txt,docs/x.txt,other.txt|B.txt,a.txt|docs/e")]
    [InlineData("docs", true, "LeftAlone", "a.txt,other.txt|B.txt,docs|")]
    [InlineData("a.txt", false, "Renamed", "a (Case Conflict).txt,docs/sub/y.txt,docs/x.txt,other.txt|B.txt|docs/e")]
    [InlineData("B.txt", false, "Renamed", "B (Case Conflict).txt,a.txt,docs/sub/y.txt,docs/x.txt,other.txt||docs/e")] // the scan's loser: read from disk
    [InlineData("docs", true, "Renamed", "a.txt,other.txt|B.txt,docs|")]
    [InlineData("docs", true, "RenamedWithRows", "a.txt,other.txt|B.txt,docs,docs (Case Conflict)|")]
    [InlineData("B.txt", false, "RenamedWithRows", "a.txt,docs/sub/y.txt,docs/x.txt,other.txt|B (Case Conflict).txt,B.txt|docs/e")]
    public void The_snapshot_after_a_clash_is_resolved(string path, bool isDirectory, string how, string expected)
    {
        var applied = Enum.Parse<LocalCaseApplied>(how);
        var snapshot = new LocalSnapshot();
        foreach (var entry in new[] { "a.txt", "docs/x.txt", "docs/sub/y.txt", "other.txt" })
        {
            snapshot.Entries[entry] = new LocalEntry(entry, FileKind.File, 1, 100, SettlesIn: null);
        }

        snapshot.EmptyFolders.Add("docs/e");
        snapshot.Withheld.Add("B.txt");
        var target = TargetOf(path);
        var outcome = new LocalCaseOutcome(path, isDirectory, LocalCaseOutcomeKind.Rename) { Target = target };

        LocalCaseSnapshot.Apply(snapshot, outcome, applied, renamed => new LocalEntry(renamed, FileKind.File, 7, 200, SettlesIn: null));

        Assert.Equal(expected, $"{Sorted(snapshot.Entries.Keys)}|{Sorted(snapshot.Withheld)}|{Sorted(snapshot.EmptyFolders)}");
        if (applied == LocalCaseApplied.Renamed && !isDirectory)
        {
            Assert.Equal(target, snapshot.Entries[target].Path);
        }
    }

    [Fact]
    public void A_file_that_follows_the_server_is_given_back_to_the_plan()
    {
        var snapshot = new LocalSnapshot();
        snapshot.Withheld.Add("B.txt");
        var entry = new LocalEntry("B.txt", FileKind.File, 1, 100, SettlesIn: null);

        LocalCaseSnapshot.Apply(snapshot, new LocalCaseOutcome("B.txt", false, LocalCaseOutcomeKind.FollowServer) { Entry = entry }, LocalCaseApplied.FollowedServer);

        Assert.Empty(snapshot.Withheld);
        Assert.Same(entry, snapshot.Entries["B.txt"]);
    }

    private static string TargetOf(string path) => CaseConflicts.CaseConflictName(path, _ => false);

    private static string Sorted(IEnumerable<string> paths) => string.Join(",", paths.Order(StringComparer.Ordinal));
}
