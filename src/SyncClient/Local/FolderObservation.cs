namespace Dropbox.SyncClient.Local;

/// <summary>
/// What a walk of a folder on disk observed (see <see cref="Stability.ObserveFolder(string, string, CancellationToken)"/>):
/// how soon everything in it could be judged settled (null: all settled now), or why it could not be told (the walk
/// reached its bound, or something under the folder could not be read). The planner decides what follows.
/// </summary>
/// <param name="SettlesIn">The longest wait of the folder itself and of every entry under it; null when all are settled.</param>
/// <param name="Unchecked">Why the walk could not look at everything under the folder; null when it did.</param>
/// <param name="OverBound">
/// True when <paramref name="Unchecked"/> is the walk's bound (entries or time): a walk again soon reads up to the bound
/// and most likely finds the same, so the next one backs off. False for a read error (something under the folder
/// unreadable, or gone during the walk: most often a tree being moved), which the next walk may well not meet.
/// </param>
internal readonly record struct FolderObservation(TimeSpan? SettlesIn, string? Unchecked, bool OverBound = false)
{
    /// <summary>Everything in the folder settled (or the folder gone).</summary>
    public static FolderObservation Settled => default;

    /// <summary>Not observed whole: something under the folder could not be read, for the reason given.</summary>
    public static FolderObservation Unreadable(string why) => new(null, why);

    /// <summary>Not observed whole: the walk reached its bound (entries or time), as said.</summary>
    public static FolderObservation PastBound(string why) => new(null, why, OverBound: true);
}
