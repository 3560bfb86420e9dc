using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Local;

/// <summary>A path as found in the sync folder by a scan (stat only; content is read only when needed).</summary>
internal sealed record LocalEntry(string Path, FileKind Kind, long Size, long MtimeTicks)
{
    /// <summary>
    /// The owner-executable bit (<see cref="ExecutableBit"/>); false for folders, null (unknown) where the folder cannot
    /// hold it (<see cref="ExecutableBitProbe"/>): an unknown bit is never compared nor sent.
    /// </summary>
    public bool? Executable { get; init; }

    /// <summary>
    /// The scan's stability observation of a file (see <see cref="Stability"/>): null when it is settled (or was not
    /// observed: folders, a scan without the rule), else how soon it could be judged settled. The planner decides what
    /// it means (a changed file that is not settled waits: <c>SyncPlanner.Waits</c>).
    /// </summary>
    public TimeSpan? SettlesIn { get; init; }
}
