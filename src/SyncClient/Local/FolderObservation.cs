namespace Dropbox.SyncClient.Local;

/// <summary>
/// What a walk of a folder on disk observed (see <see cref="Stability.ObserveFolder(string, string, CancellationToken)"/>):
/// how soon everything in it could be judged settled (null: all settled now), or why it could not be told (the walk
/// reached its bound, or something under the folder could not be read). The planner decides what follows.
/// </summary>
/// <param name="SettlesIn">The longest wait of the folder itself and of every entry under it; null when all are settled.</param>
/// <param name="Unchecked">Why the walk could not look at everything under the folder; null when it did.</param>
internal readonly record struct FolderObservation(TimeSpan? SettlesIn, string? Unchecked)
{
    /// <summary>Everything in the folder settled (or the folder gone).</summary>
    public static FolderObservation Settled => default;

    /// <summary>Not observed whole, for the reason given.</summary>
    public static FolderObservation NotChecked(string why) => new(null, why);
}
