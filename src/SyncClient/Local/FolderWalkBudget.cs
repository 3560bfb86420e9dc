namespace Dropbox.SyncClient.Local;

/// <summary>
/// The entries and time every walk of clashing folders in one pass may spend together
/// (<see cref="Stability.ObserveFolder(string, string, FolderWalkBudget, List{FolderStamp}, CancellationToken)"/>): a pass
/// with many clashing folders reads at most one walk's bound in all, not one per folder.
/// </summary>
/// <param name="maxEntries">Most entries read by all walks together.</param>
/// <param name="maxTime">Longest all walks together read for, from the first walk's start.</param>
internal sealed class FolderWalkBudget(int maxEntries, TimeSpan maxTime)
{
    /// <summary>Most entries read by all walks together.</summary>
    public int MaxEntries => maxEntries;

    /// <summary>Longest all walks together read for.</summary>
    public TimeSpan MaxTime => maxTime;

    /// <summary>Entries read so far by the walks of this budget.</summary>
    public int Entries { get; set; }

    /// <summary>The monotonic timestamp of the first walk's start (null: none yet).</summary>
    public long? Started { get; set; }
}
