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

    /// <inheritdoc cref="ObserveFolder(string, string, int, TimeSpan, CancellationToken)"/>
    public FolderObservation ObserveFolder(string fullPath, string relative, CancellationToken ct) =>
        ObserveFolder(fullPath, relative, MaxFolderEntries, MaxFolderWalk, ct);

    /// <summary>
    /// The observation of the folder at <paramref name="fullPath"/> (relative: <paramref name="relative"/>) as it is on
    /// disk now: its own mtime and that of every file and folder under it, read afresh. Unlike the scan's entries it
    /// includes what the scan never looks at: ignored names (a browser's <c>big.iso.part</c>, <c>.dropboxignore</c>
    /// matches, temp names) and the inside of a folder that lost a case clash. Links are not followed (what they lead to
    /// does not move with the folder). Past <paramref name="maxEntries"/> entries or <paramref name="maxTime"/>
    /// (<see cref="TimeProvider.GetTimestamp"/> of this rule's clock), or when anything under it cannot be read, it says
    /// why instead (<see cref="FolderObservation.Unchecked"/>): never settled by default. A folder gone is settled (the
    /// rename then says so).
    /// </summary>
    public FolderObservation ObserveFolder(string fullPath, string relative, int maxEntries, TimeSpan maxTime, CancellationToken ct)
    {
        if (stableAge <= TimeSpan.Zero)
        {
            return FolderObservation.Settled; // no stability rule: every file is settled, as SettlesIn says
        }

        var started = time.GetTimestamp();
        TimeSpan? longest;
        try
        {
            if (!Directory.Exists(fullPath))
            {
                return FolderObservation.Settled;
            }

            longest = SettlesIn(relative, Directory.GetLastWriteTimeUtc(fullPath).Ticks);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return FolderObservation.NotChecked($"'{relative}' could not be read ({e.Message})");
        }

        var entries = 0;
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
                    if (++entries > maxEntries)
                    {
                        return FolderObservation.NotChecked(string.Create(CultureInfo.InvariantCulture, $"more than {maxEntries} entries under it"));
                    }

                    if (time.GetElapsedTime(started) > maxTime)
                    {
                        return FolderObservation.NotChecked(string.Create(CultureInfo.InvariantCulture, $"reading it took longer than {maxTime.TotalSeconds:0.#} s"));
                    }

                    if (entry.IsLink)
                    {
                        continue;
                    }

                    var under = string.Concat(folder.Relative, "/", entry.Name);
                    if (SettlesIn(under, entry.MtimeTicks) is { } settlesIn && (longest is null || settlesIn > longest))
                    {
                        longest = settlesIn;
                    }

                    if (entry.IsDirectory)
                    {
                        folders.Push((Path.Combine(folder.Full, entry.Name), under));
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Unreadable, or gone meanwhile (something in the folder is changing): not told settled either way.
                return FolderObservation.NotChecked($"'{folder.Relative}' could not be read ({e.Message})");
            }
        }

        return new FolderObservation(longest, null);
    }

    /// <summary>One directory entry as the walk needs it.</summary>
    private sealed record WalkEntry(string Name, bool IsDirectory, bool IsLink, long MtimeTicks);
}
