using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>The rule's word on one local name that clashes in case (<see cref="LocalCaseRules.Decide"/>); the planner plans it (<see cref="LocalCasePlan"/>), the executor makes it (<see cref="LocalCaseRenames"/>).</summary>
/// <param name="Path">The losing name.</param>
/// <param name="IsDirectory">A folder, else a file.</param>
/// <param name="Kind">What becomes of it.</param>
internal sealed record LocalCaseOutcome(string Path, bool IsDirectory, LocalCaseOutcomeKind Kind)
{
    /// <summary><see cref="LocalCaseOutcomeKind.FollowServer"/>: its entry, given back to the snapshot.</summary>
    public LocalEntry? Entry { get; init; }

    /// <summary><see cref="LocalCaseOutcomeKind.Wait"/>: the planner's wait step for it.</summary>
    public SyncAction? Wait { get; init; }

    /// <summary><see cref="LocalCaseOutcomeKind.Wait"/>: a line for the log, where the wait is worth one.</summary>
    public string? Log { get; init; }

    /// <summary><see cref="LocalCaseOutcomeKind.Rename"/>: the new name; a <see cref="LocalCaseOutcomeKind.Wait"/> that <see cref="Followed"/>: the name it waits to follow.</summary>
    public string? Target { get; init; }

    /// <summary>
    /// <see cref="LocalCaseOutcomeKind.Rename"/>: the target is the name the server moved it to (another device's rename,
    /// followed); its rows follow. <see cref="LocalCaseOutcomeKind.Wait"/>: it waits to follow that move (withheld under
    /// both names, the move remembered: <see cref="FollowedCaseMoves"/>).
    /// </summary>
    public bool Followed { get; init; }

    /// <summary><see cref="LocalCaseOutcomeKind.Rename"/>: the server paths renamed there first, each with the version seen; empty: here only.</summary>
    public IReadOnlyList<(string Path, ulong Version)> OnServer { get; init; } = [];

    /// <summary>
    /// <see cref="LocalCaseOutcomeKind.Rename"/> with <see cref="OnServer"/>: if the server refuses, renamed here alone
    /// (refused at its last try too: the rows were stale); else it waits a pass, remembered as refused.
    /// </summary>
    public bool HereAloneIfRefused { get; init; }

    /// <summary><see cref="LocalCaseOutcomeKind.Rename"/> of a folder: the folders its walk read, looked at again right before the rename (<see cref="LocalCaseRules.Recheck"/>).</summary>
    public IReadOnlyList<FolderStamp> Walked { get; init; } = [];
}
