using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// A leftover the scan found under a hidden holding name (<see cref="LocalSnapshot.Displaced"/>): a user's file that a
/// download or a remote delete took off its name, left there by a client stopped while it looked at it. With what
/// <see cref="DisplacedRules"/> decides it by, gathered by <see cref="DisplacedFacts"/> without side effects.
/// </summary>
/// <param name="Holding">Its path: the holding name, in the folder of the file it displaced.</param>
/// <param name="Original">The path of the file it displaced, as its holding name carries it; null where the name did not fit.</param>
internal sealed record DisplacedFile(string Holding, string? Original)
{
    /// <summary>Its content as read; null when it could not be read, or changed while it was read.</summary>
    public FileFingerprint? Fingerprint { get; init; }

    /// <summary>The stability rule's observation of it as read (as the scan's of any file): null when settled.</summary>
    public TimeSpan? SettlesIn { get; init; }

    /// <summary>The synced files of its folder whose synced version has its size, by path (none when it was not read).</summary>
    public IReadOnlyList<DisplacedCandidate> Synced { get; init; } = [];

    /// <summary>The remote changes of this pass in its folder with its size, by path (none when it was not read).</summary>
    public IReadOnlyList<RemoteEntry> Remote { get; init; } = [];
}
