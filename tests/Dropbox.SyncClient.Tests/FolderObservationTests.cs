using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Tests;

/// <summary>
/// The walk of a whole folder on disk made right before a case-clash rename (<see cref="Stability.ObserveFolder(string, string, int, TimeSpan, CancellationToken)"/>):
/// everything under it counts, ignored names included; what it cannot look at whole is never told settled.
/// </summary>
public sealed class FolderObservationTests : IDisposable
{
    private static readonly TimeSpan StableAge = TimeSpan.FromHours(1);
    private readonly TempFolder _dir = new();
    private readonly ManualClock _clock = new();

    public void Dispose() => _dir.Dispose();

    private Stability Rule => new(_clock, StableAge, null, TimeSpan.FromMilliseconds(250));

    [Fact]
    public void A_folder_whose_entries_are_all_old_is_settled()
    {
        var docs = Tree("Docs/a.txt", "Docs/sub/b.txt");

        var observed = Rule.ObserveFolder(docs, "Docs", 100, TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Equal(FolderObservation.Settled, observed);
    }

    [Theory]
    [InlineData("Docs/big.iso.part")] // a browser's download: ignored by every scan
    [InlineData("Docs/.dropbox.tmp-0123456789abcdef0123456789abcdef")] // a temp name
    [InlineData("Docs/sub/deep/x.bin")]
    public void A_young_file_anywhere_under_the_folder_is_observed_whatever_the_scan_ignores(string young)
    {
        var docs = Tree("Docs/a.txt", young);
        File.SetLastWriteTimeUtc(_dir.Sub(young), (_clock.GetUtcNow() - TimeSpan.FromSeconds(5)).UtcDateTime);

        var observed = Rule.ObserveFolder(docs, "Docs", 100, TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Null(observed.Unchecked);
        Assert.Equal(StableAge - TimeSpan.FromSeconds(5), observed.SettlesIn);
    }

    [Fact]
    public void A_folder_with_more_entries_than_the_bound_is_not_told_settled()
    {
        var docs = Tree("Docs/1", "Docs/2", "Docs/3", "Docs/sub/4");

        var observed = Rule.ObserveFolder(docs, "Docs", 4, TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Equal(new FolderObservation(null, "more than 4 entries under it (or under all folders looked at this pass)", OverBound: true), observed);
    }

    [Fact]
    public void A_folder_read_for_longer_than_the_bound_is_not_told_settled()
    {
        var docs = Tree("Docs/1", "Docs/2");
        // The walk's first clock read is its start; at its next (after the first entry) a minute has gone by.
        _clock.BeforeNextTimestamp(() => _clock.BeforeNextTimestamp(() => _clock.Advance(TimeSpan.FromMinutes(1))));

        var observed = Rule.ObserveFolder(docs, "Docs", 100, TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Equal(new FolderObservation(null, "reading it took longer than 10 s (with all folders looked at this pass)", OverBound: true), observed);
    }

    [Fact]
    public void A_subfolder_gone_during_the_walk_is_not_told_settled()
    {
        var docs = Tree("Docs/a.txt", "Docs/sub/b.txt");
        // Listed, then removed before the walk gets into it (a tree being moved or deleted under the walk).
        _clock.BeforeNextTimestamp(() => _clock.BeforeNextTimestamp(() => Directory.Delete(_dir.Sub("Docs/sub"), recursive: true)));

        var observed = Rule.ObserveFolder(docs, "Docs", 100, TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Null(observed.SettlesIn);
        Assert.Contains("could not be read", observed.Unchecked, StringComparison.Ordinal);
        Assert.False(observed.OverBound, "a read error taken for the walk's bound: it would back off like a folder too large to read");
    }

    [Fact]
    public void A_name_made_in_a_subfolder_after_the_walk_read_it_is_a_change_before_the_rename()
    {
        var docs = Tree("Docs/sub/b.txt");
        var visited = new List<FolderStamp>();
        // Clock reads: the walk's start, 'sub' in the listing of 'Docs', 'b.txt' in the listing of 'sub' (read by then):
        // a file made there now is never listed, and the walk alone finds everything settled.
        _clock.BeforeNextTimestamp(() => _clock.BeforeNextTimestamp(() => _clock.BeforeNextTimestamp(() => File.WriteAllText(_dir.Sub("Docs/sub/new"), "unzipped"))));

        var rule = Rule;
        var observed = rule.ObserveFolder(docs, "Docs", new FolderWalkBudget(100, TimeSpan.FromSeconds(10)), visited, CancellationToken.None);

        Assert.True(File.Exists(_dir.Sub("Docs/sub/new")), "the test's write did not happen during the walk");
        Assert.Equal(FolderObservation.Settled, observed);
        Assert.NotNull(rule.FolderChangedSinceWalk(visited));
    }

    [Fact]
    public void A_folder_unchanged_since_its_walk_is_no_change_before_the_rename()
    {
        var docs = Tree("Docs/a.txt", "Docs/sub/b.txt");
        var visited = new List<FolderStamp>();
        var rule = Rule;

        Assert.Equal(FolderObservation.Settled, rule.ObserveFolder(docs, "Docs", new FolderWalkBudget(100, TimeSpan.FromSeconds(10)), visited, CancellationToken.None));
        Assert.Equal(["Docs", "Docs/sub"], visited.Select(v => v.Relative));
        Assert.Null(rule.FolderChangedSinceWalk(visited));
    }

    [Fact]
    public void The_walks_of_one_pass_share_one_entry_bound()
    {
        var docs = Tree("Docs/1", "Docs/2", "Docs/3");
        var notes = Tree("Notes/1", "Notes/2");
        var budget = new FolderWalkBudget(4, TimeSpan.FromSeconds(10));

        Assert.Equal(FolderObservation.Settled, Rule.ObserveFolder(docs, "Docs", budget, [], CancellationToken.None));
        Assert.NotNull(Rule.ObserveFolder(notes, "Notes", budget, [], CancellationToken.None).Unchecked);
    }

    [Fact]
    public void A_file_the_watcher_saw_past_its_quiet_period_is_not_settled_for_a_folder()
    {
        var docs = Tree("Docs/a.txt");
        File.SetLastWriteTimeUtc(_dir.Sub("Docs/a.txt"), (_clock.GetUtcNow() - TimeSpan.FromSeconds(1)).UtcDateTime);
        var watched = new WatchedChanges(_clock);
        watched.Saw("Docs/a.txt");
        _clock.Advance(TimeSpan.FromSeconds(1));
        var rule = new Stability(_clock, TimeSpan.FromSeconds(2), watched, TimeSpan.FromMilliseconds(250));

        var observed = rule.ObserveFolder(docs, "Docs", 100, TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Null(rule.SettlesIn("Docs/a.txt", File.GetLastWriteTimeUtc(_dir.Sub("Docs/a.txt")).Ticks)); // a file: settled by the watcher
        Assert.Equal(Stability.MinFolderSettleAge - TimeSpan.FromSeconds(2), observed.SettlesIn); // a tree: 30 s since its newest mtime
    }

    [Fact]
    public void A_link_in_the_folder_is_not_followed()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // links need a privilege there
        }

        var docs = Tree("Docs/a.txt", "elsewhere/young.txt");
        File.SetLastWriteTimeUtc(_dir.Sub("elsewhere/young.txt"), _clock.GetUtcNow().UtcDateTime);
        Directory.CreateSymbolicLink(_dir.Sub("Docs/link"), _dir.Sub("elsewhere"));

        var observed = Rule.ObserveFolder(docs, "Docs", 100, TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Equal(FolderObservation.Settled, observed);
    }

    [Fact]
    public void A_folder_gone_is_settled_so_the_rename_says_so()
    {
        Assert.Equal(FolderObservation.Settled, Rule.ObserveFolder(_dir.Sub("Gone"), "Gone", 100, TimeSpan.FromSeconds(10), CancellationToken.None));
    }

    /// <summary>Files at <paramref name="paths"/>, every file and folder written two hours ago by the clock; returns the full path of the first path's top folder.</summary>
    private string Tree(params string[] paths)
    {
        var old = (_clock.GetUtcNow() - TimeSpan.FromHours(2)).UtcDateTime;
        foreach (var path in paths)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_dir.Sub(path))!);
            File.WriteAllText(_dir.Sub(path), path);
        }

        foreach (var entry in Directory.EnumerateFileSystemEntries(_dir.Path, "*", SearchOption.AllDirectories))
        {
            if (Directory.Exists(entry))
            {
                Directory.SetLastWriteTimeUtc(entry, old);
            }
            else
            {
                File.SetLastWriteTimeUtc(entry, old);
            }
        }

        return _dir.Sub(paths[0][..paths[0].IndexOf('/', StringComparison.Ordinal)]);
    }
}
