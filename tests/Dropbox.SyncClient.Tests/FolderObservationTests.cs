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

        Assert.Equal(new FolderObservation(null, "more than 4 entries under it"), observed);
    }

    [Fact]
    public void A_folder_read_for_longer_than_the_bound_is_not_told_settled()
    {
        var docs = Tree("Docs/1", "Docs/2");
        // The walk's first clock read is its start; at its next (after the first entry) a minute has gone by.
        _clock.BeforeNextTimestamp(() => _clock.BeforeNextTimestamp(() => _clock.Advance(TimeSpan.FromMinutes(1))));

        var observed = Rule.ObserveFolder(docs, "Docs", 100, TimeSpan.FromSeconds(10), CancellationToken.None);

        Assert.Equal(new FolderObservation(null, "reading it took longer than 10 s"), observed);
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
