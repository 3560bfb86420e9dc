using System.Globalization;
using System.IO.Enumeration;

namespace Dropbox.SyncClient.Local;

/// <summary>The observation of a whole folder, made right before it is renamed whole (a case clash).</summary>
internal sealed partial class Stability
{
    /// <summary>
    /// Most entries <see cref="ObserveFolder(string, string, CancellationToken)"/> reads under one folder. A folder past
    /// it is not told settled: it waits (and is reported), which costs a rename by hand at worst, never a split tree.
    /// </summary>
    public const int MaxFolderEntries = 100_000;

    /// <summary>Longest <see cref="ObserveFolder(string, string, CancellationToken)"/> reads one folder for (a slow or remote disk).</summary>
    public static readonly TimeSpan MaxFolderWalk = TimeSpan.FromSeconds(10);

    // As the scan's: an unreadable folder throws (it is not told settled), and nothing is skipped by attribute, since a
    // hidden or ignored file being written is written all the same.
    private static readonly EnumerationOptions WalkOptions = new()
    {
        IgnoreInaccessible = false,
        RecurseSubdirectories = false,
        AttributesToSkip = 0,
        ReturnSpecialDirectories = false,
    };

    /// <summary>
    /// Youngest mtime anything under a folder may have for the folder to be renamed whole, whatever the stable age (a
    /// longer stable age counts). A whole tree's writer (<c>cp -r</c>, <c>unzip</c>, <c>rsync</c>, a clone) stalls for
    /// longer than the watcher's quiet period or a 2 s stable age on a slow disk or network, and a rename during a stall
    /// splits the tree; a file's rename risks one file, a folder's the whole tree, so the folder waits longer.
    /// </summary>
    public static readonly TimeSpan MinFolderSettleAge = TimeSpan.FromSeconds(30);

    /// <summary>The age everything under a folder must reach before it is renamed whole: the stable age, at least <see cref="MinFolderSettleAge"/>.</summary>
    private TimeSpan FolderSettleAge => stableAge > MinFolderSettleAge ? stableAge : MinFolderSettleAge;

    /// <inheritdoc cref="ObserveFolder(string, string, FolderWalkBudget, List{FolderStamp}, CancellationToken)"/>
    public FolderObservation ObserveFolder(string fullPath, string relative, CancellationToken ct) =>
        ObserveFolder(fullPath, relative, MaxFolderEntries, MaxFolderWalk, ct);

    /// <inheritdoc cref="ObserveFolder(string, string, FolderWalkBudget, List{FolderStamp}, CancellationToken)"/>
    public FolderObservation ObserveFolder(string fullPath, string relative, int maxEntries, TimeSpan maxTime, CancellationToken ct) =>
        ObserveFolder(fullPath, relative, new FolderWalkBudget(maxEntries, maxTime), [], ct);

    /// <summary>
    /// The observation of the folder at <paramref name="fullPath"/> (relative: <paramref name="relative"/>) as it is on
    /// disk now: its own mtime and that of every file and folder under it, read afresh. Unlike the scan's entries it
    /// includes what the scan never looks at: ignored names (a browser's <c>big.iso.part</c>, <c>.dropboxignore</c>
    /// matches, temp names) and the inside of a folder that lost a case clash. Links are not followed (what they lead to
    /// does not move with the folder). Unlike a file's, it takes no watcher evidence (no quiet-period shortcut: a tree's
    /// writer stalls longer than that) and asks every mtime to be at least <see cref="FolderSettleAge"/> old. Past the
    /// <paramref name="budget"/> (entries or time, shared by every walk of the pass; time by
    /// <see cref="TimeProvider.GetTimestamp"/> of this rule's clock; <see cref="FolderObservation.OverBound"/>), or when
    /// anything under it cannot be read, it says why instead (<see cref="FolderObservation.Unchecked"/>): never settled by default. A folder gone is settled (the
    /// rename then says so). Every folder it read is added to <paramref name="visited"/> with the mtime read, for
    /// <see cref="FolderChangedSinceWalk"/> right before the rename: the walk is not a snapshot (a folder's mtime is read
    /// in its parent's listing, its contents later).
    /// </summary>
    public FolderObservation ObserveFolder(string fullPath, string relative, FolderWalkBudget budget, List<FolderStamp> visited, CancellationToken ct)
    {
        if (stableAge <= TimeSpan.Zero)
        {
            return FolderObservation.Settled; // no stability rule: every file is settled, as SettlesIn says
        }

        var started = budget.Started ??= time.GetTimestamp();
        TimeSpan? longest;
        try
        {
            if (!Directory.Exists(fullPath))
            {
                return FolderObservation.Settled;
            }

            var rootMtime = Directory.GetLastWriteTimeUtc(fullPath).Ticks;
            visited.Add(new FolderStamp(fullPath, relative, rootMtime));
            longest = FolderSettlesIn(rootMtime);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return FolderObservation.Unreadable($"'{relative}' could not be read ({e.Message})");
        }

        var folders = new Stack<(string Full, string Relative)>();
        folders.Push((fullPath, relative));
        while (folders.TryPop(out var folder))
        {
            try
            {
                // Not collected first: a folder of a million names is given up at the bound, not read whole.
                foreach (var entry in new FileSystemEnumerable<WalkEntry>(folder.Full, static (ref FileSystemEntry e) => new WalkEntry(
                    e.FileName.ToString(), e.IsDirectory, (e.Attributes & FileAttributes.ReparsePoint) != 0, e.LastWriteTimeUtc.UtcTicks), WalkOptions))
                {
                    ct.ThrowIfCancellationRequested();
                    if (++budget.Entries > budget.MaxEntries)
                    {
                        return FolderObservation.PastBound(string.Create(CultureInfo.InvariantCulture, $"more than {budget.MaxEntries} entries under it (or under all folders looked at this pass)"));
                    }

                    if (time.GetElapsedTime(started) > budget.MaxTime)
                    {
                        return FolderObservation.PastBound(string.Create(CultureInfo.InvariantCulture, $"reading it took longer than {budget.MaxTime.TotalSeconds:0.#} s (with all folders looked at this pass)"));
                    }

                    if (entry.IsLink)
                    {
                        continue;
                    }

                    if (FolderSettlesIn(entry.MtimeTicks) is { } settlesIn && (longest is null || settlesIn > longest))
                    {
                        longest = settlesIn;
                    }

                    if (entry.IsDirectory)
                    {
                        var under = (Path.Combine(folder.Full, entry.Name), string.Concat(folder.Relative, "/", entry.Name));
                        visited.Add(new FolderStamp(under.Item1, under.Item2, entry.MtimeTicks));
                        folders.Push(under);
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Unreadable, or gone meanwhile (something in the folder is changing): not told settled either way.
                return FolderObservation.Unreadable($"'{folder.Relative}' could not be read ({e.Message})");
            }
        }

        return new FolderObservation(longest, null);
    }

    /// <summary>
    /// Re-reads the mtime of every folder a settled walk read (<paramref name="visited"/>), right before the rename: a
    /// name created, removed or renamed in any of them since the walk read it (after the walk had passed it, or between
    /// the walk and the rename) changes its mtime. Null: none changed. Else how soon to look again (a wait, never a
    /// rename: the tree is being written). What it cannot see: an append to a file that already existed, which every
    /// mtime had to leave alone for <see cref="FolderSettleAge"/> first.
    /// </summary>
    public TimeSpan? FolderChangedSinceWalk(IReadOnlyList<FolderStamp> visited)
    {
        foreach (var folder in visited)
        {
            long now;
            try
            {
                if (!Directory.Exists(folder.Full))
                {
                    return FolderSettleAge; // gone since the walk: something is moving the tree
                }

                now = Directory.GetLastWriteTimeUtc(folder.Full).Ticks;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return FolderSettleAge;
            }

            if (now != folder.MtimeTicks)
            {
                return FolderSettlesIn(now) ?? FolderSettleAge;
            }
        }

        return null;
    }

    /// <summary>The folder rule's wait for one mtime under a folder: null when at least <see cref="FolderSettleAge"/> old (or far in the future).</summary>
    private TimeSpan? FolderSettlesIn(long mtimeTicks)
    {
        var age = time.GetUtcNow().UtcDateTime - new DateTime(mtimeTicks, DateTimeKind.Utc);
        var settleAge = FolderSettleAge;
        return age >= settleAge || age <= -settleAge ? null : settleAge - age;
    }

    /// <summary>One directory entry as the walk needs it.</summary>
    private sealed record WalkEntry(string Name, bool IsDirectory, bool IsLink, long MtimeTicks);
}
