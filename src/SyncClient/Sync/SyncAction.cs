using Dropbox.SyncClient.Local;
using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>One step of a plan. Which fields are set depends on <see cref="Kind"/>.</summary>
internal sealed record SyncAction(SyncActionKind Kind, string Path)
{
    /// <summary>Destination of a move.</summary>
    public string? ToPath { get; init; }

    /// <summary>The version this client last synced (0: none).</summary>
    public ulong BaseVersion { get; init; }

    /// <summary>The local file as scanned (null when absent).</summary>
    public LocalEntry? Local { get; init; }

    /// <summary>The local content (for uploads, conflicts, records).</summary>
    public FileFingerprint? Fingerprint { get; init; }

    /// <summary>The remote state (for downloads, conflicts, records).</summary>
    public RemoteEntry? Remote { get; init; }

    /// <summary>The merge base.</summary>
    public FileRecord? Base { get; init; }

    /// <summary>The size the server listed, for a <see cref="SyncActionKind.DownloadNew"/> (which keeps no remote entry).</summary>
    public long Size { get; init; }

    /// <summary>The files of an <see cref="SyncActionKind.UploadNew"/> (a path, size and mtime each; its <see cref="Path"/> is empty).</summary>
    public NewFiles? NewFiles { get; init; }

    /// <summary>What a <see cref="SyncActionKind.Hold"/> held back and why.</summary>
    public DeleteHold? Held { get; init; }

    /// <summary>
    /// How soon the file a <see cref="SyncActionKind.Wait"/> waits for could be found settled (more than zero); for a
    /// <see cref="SyncActionKind.KeepDisplaced"/>, how soon the leftover could (zero: settled).
    /// </summary>
    public TimeSpan SettlesIn { get; init; }

    /// <summary>
    /// For a leftover (<see cref="SyncActionKind.RemoveDisplaced"/>, <see cref="SyncActionKind.KeepDisplaced"/>): the path of
    /// the file it displaced, as its holding name carries it (null where it did not fit); a kept copy is named after it.
    /// </summary>
    public string? Original { get; init; }

    /// <summary>For a <see cref="SyncActionKind.RemoveDisplaced"/>: the path at which the server holds the leftover's bytes (its name in the trash).</summary>
    public string? SameAs { get; init; }

    /// <summary>For a <see cref="SyncActionKind.CaseRenameRemote"/> or <see cref="SyncActionKind.CaseHoldRemote"/>: the rule's finding.</summary>
    public NewRemoteCaseClash? CaseClash { get; init; }

    /// <summary>
    /// For a <see cref="SyncActionKind.CaseRenameLocal"/> (and a case clash's <see cref="SyncActionKind.Wait"/>): the rule's
    /// outcome (<see cref="LocalCaseRules.DecideAll"/>), with what the executor needs (the server's paths and versions, the
    /// folders walked, the log line of a wait).
    /// </summary>
    public LocalCaseOutcome? LocalCase { get; init; }

    /// <summary>For a <see cref="SyncActionKind.CaseRenameLocal"/>: the facts it was decided over (the synced rows under its name, its stat when read).</summary>
    public LocalCaseClash? CaseFacts { get; init; }

    /// <summary>Why (for skips and reports).</summary>
    public string? Reason { get; init; }

    /// <summary>What the system said when the file of a <see cref="SyncPlanner.UnreadableReason"/> wait could not be read.</summary>
    public string? Unreadable { get; init; }

    /// <inheritdoc />
    public override string ToString() =>
        Kind == SyncActionKind.UploadNew ? $"{Kind} {NewFiles?.Count ?? 0} file(s)" : ToPath is null ? $"{Kind} {Path}" : $"{Kind} {Path} -> {ToPath}";
}
