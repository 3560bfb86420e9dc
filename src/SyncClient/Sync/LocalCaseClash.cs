using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// What the rule for a local name that clashes in case (<see cref="LocalCaseRules.Decide"/>) decides with, read by
/// <see cref="LocalCaseFacts"/> right before the name is acted on; it holds no decision of its own.
/// </summary>
/// <param name="Path">The losing name: a file or folder here that differs only in case from another name here or on the server.</param>
/// <param name="IsDirectory">A folder (renamed whole), else a file.</param>
internal sealed record LocalCaseClash(string Path, bool IsDirectory)
{
    /// <summary>
    /// A losing file of the scan found exactly as synced whose server path this pass deletes or moves away
    /// (<see cref="CaseClashLoser.FollowsServer"/>): its entry as the scan would list it. Null: none.
    /// </summary>
    public LocalEntry? FollowsServer { get; init; }

    /// <summary>A file: its stability observation from its stat now (null: settled, as synced, or gone).</summary>
    public TimeSpan? SettlesIn { get; init; }

    /// <summary>A folder: the walk of it on disk now (<see cref="Stability.ObserveFolder(string, string, FolderWalkBudget, List{FolderStamp}, CancellationToken)"/>); null when not walked (<see cref="BackoffLeft"/>).</summary>
    public FolderObservation? Walk { get; init; }

    /// <summary>A folder the walk could not see whole lately: how long until it is walked again (<see cref="UncheckedFolderBackoff"/>); null: walked now.</summary>
    public TimeSpan? BackoffLeft { get; init; }

    /// <summary>A folder whose walk could not see it whole: when it is looked at again, by the backoff's memory (which the reader updated).</summary>
    public TimeSpan Recheck { get; init; }

    /// <summary>A folder walked and found settled: a folder it read changed since (<see cref="Stability.FolderChangedSinceWalk"/>), read last: how soon it could settle.</summary>
    public TimeSpan? ChangedSinceWalk { get; init; }

    /// <summary>The live server paths at or under <see cref="Path"/> with the versions this pass saw, parents first; empty unless a loser of the scan.</summary>
    public IReadOnlyList<(string Path, ulong Version)> OnServer { get; init; } = [];

    /// <summary>The <c>(Case Conflict)</c> name the server moved what was synced under <see cref="Path"/> to (another device's rename of this clash); null when none.</summary>
    public string? MovedAwayTo { get; init; }

    /// <summary>Something is at <see cref="MovedAwayTo"/> here already.</summary>
    public bool MovedAwayTaken { get; init; }

    /// <summary>The first <c>(Case Conflict N)</c> name free here, in the index and in the remote view, in any case; null when none of 10,000 is.</summary>
    public string? FreeName { get; init; }

    /// <summary>
    /// The next free <c>(Case Conflict N)</c> names after <see cref="FreeName"/>, in order, as many as there are clashes
    /// before this one in the pass whose path is the same in any case: all clashes are read before any is renamed, and
    /// only such an earlier rename's pick can take one of them, one at most (<see cref="LocalCaseRules.DecideAll"/>).
    /// </summary>
    public IReadOnlyList<string> MoreFreeNames { get; init; } = [];

    /// <summary>A folder walked and found settled: the folders the walk read, with their mtimes then, for the look right before the rename (<see cref="Stability.FolderChangedSinceWalk"/>).</summary>
    public IReadOnlyList<FolderStamp> Walked { get; init; } = [];

    /// <summary>The server refused to rename <see cref="Path"/> at its last try (the engine's memory of refusals).</summary>
    public bool RefusedBefore { get; init; }

    /// <summary>The synced row of <see cref="Path"/> (null: none): the look right before the rename takes a file found exactly as synced as settled.</summary>
    public BaseStat? Synced { get; init; }

    /// <summary>
    /// The synced paths at or under <see cref="Path"/>, in ordinal order, where rows can follow a rename (a scan's loser,
    /// or a name the server moved away): the executor moves those the server moved (<see cref="LocalCaseRenames"/>).
    /// </summary>
    public IReadOnlyList<string> SyncedUnder { get; init; } = [];

    /// <summary>A file: its entry as read with the facts (size, mtime), for the plan of a loser the scan withheld, renamed here alone and sent under its new name.</summary>
    public LocalEntry? Scanned { get; init; }
}
