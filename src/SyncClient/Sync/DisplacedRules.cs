using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// The planner's rule for a leftover (<see cref="DisplacedFile"/>), pure as <see cref="SyncPlanner"/> is. One whose bytes
/// are exactly what the server holds at a path it can have been displaced from is no file of the user's: removed, to the
/// trash (<see cref="SyncActionKind.RemoveDisplaced"/>). Every other one is the user's: kept as a conflicted copy beside
/// the file it displaced (<see cref="SyncActionKind.KeepDisplaced"/>), sent as new in the same pass, or by a later one
/// where it cannot go now (<see cref="KeepForLaterReason"/>).
/// </summary>
internal static class DisplacedRules
{
    /// <summary>Reason of a <see cref="SyncActionKind.RemoveDisplaced"/>.</summary>
    public const string RemoveReason = "a hidden leftover with exactly the bytes the server holds at the path it was taken from: moved to the trash";

    /// <summary>Reason of a <see cref="SyncActionKind.KeepDisplaced"/> whose copy is sent as new in the same pass.</summary>
    public const string KeepReason = "a hidden leftover of yours: kept as a conflicted copy beside the file it was taken from, and sent as new";

    /// <summary>
    /// Reason of a <see cref="SyncActionKind.KeepDisplaced"/> whose copy a later pass sends, as any new file at its name:
    /// it could not be read, it is still being written, or its folder leaves its path or clashes this pass.
    /// </summary>
    public const string KeepForLaterReason = "a hidden leftover of yours: kept as a conflicted copy beside the file it was taken from; a later pass sends it";

    /// <summary>
    /// The step for <paramref name="leftover"/>: removed where the server holds its bytes (<see cref="ServerHoldsAt"/>),
    /// else kept; a kept one is sent by a later pass when it was not read, is still being written, or
    /// <paramref name="folderHeld"/> (its folder leaves its path for a remote file, or is at or under a kind clash:
    /// what is new in it is moved or waits with it).
    /// </summary>
    public static SyncAction Decide(DisplacedFile leftover, bool folderHeld)
    {
        if (ServerHoldsAt(leftover) is { } at)
        {
            return new SyncAction(SyncActionKind.RemoveDisplaced, leftover.Holding) { Original = leftover.Original, SameAs = at, Fingerprint = leftover.Fingerprint, Reason = RemoveReason };
        }

        var later = folderHeld || leftover.Fingerprint is null || leftover.SettlesIn is not null;
        return new SyncAction(SyncActionKind.KeepDisplaced, leftover.Holding)
        {
            Original = leftover.Original,
            Fingerprint = leftover.Fingerprint,
            SettlesIn = leftover.SettlesIn ?? TimeSpan.Zero,
            Reason = later ? KeepForLaterReason : KeepReason,
        };
    }

    /// <summary>
    /// The path at which the server holds exactly the bytes of <paramref name="leftover"/>, so that removing it loses
    /// nothing of the user's; null when there is none, or it was not read (never deleted on a guess). Only a path it can
    /// have been displaced from counts: the one its holding name carries; where it carries none, a file of its folder
    /// whose synced version it is while the file there is no longer as synced (a download went in and was not recorded),
    /// or while nothing is there and the server deleted it (a remote delete took it aside under a name too short to carry
    /// the file's, and stopped before the trash), or whose new remote version of this pass it is. A sibling still as
    /// synced was not replaced: a leftover equal to it is a save of the user's that holds the same bytes (a copy), kept.
    /// A synced version counts before a remote one.
    /// </summary>
    public static string? ServerHoldsAt(DisplacedFile leftover)
    {
        if (leftover.Fingerprint is not { } read)
        {
            return null;
        }

        var folder = SyncPaths.Parent(leftover.Holding);
        foreach (var synced in leftover.Synced)
        {
            if (synced.Size == read.Size && SyncPaths.Parent(synced.Path) == folder && synced.ContentHash.AsSpan().SequenceEqual(read.ContentHash)
                && (leftover.Original is null
                    ? synced.Here == FoundHere.Changed || (synced.Here == FoundHere.Nothing && synced.Remote is { Deleted: true })
                    : synced.Path == leftover.Original))
            {
                return synced.Path;
            }
        }

        foreach (var remote in leftover.Remote)
        {
            if (remote is { Kind: FileKind.File, Deleted: false } && remote.Size == read.Size && SyncPaths.Parent(remote.Path) == folder
                && (leftover.Original is null || remote.Path == leftover.Original) && remote.ContentHash.AsSpan().SequenceEqual(read.ContentHash))
            {
                return remote.Path;
            }
        }

        return null;
    }
}
