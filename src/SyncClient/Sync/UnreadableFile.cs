namespace Dropbox.SyncClient.Sync;

/// <summary>
/// A scanned file whose content the pass needed and could not read (no permission, an I/O error): what the system
/// said, and when to look at it again (the engine's backoff, see <see cref="UncheckedFolderBackoff.ReadError"/>). The
/// planner leaves it as it is on both sides (<see cref="SyncPlanner.UnreadableReason"/>).
/// </summary>
/// <param name="Why">The system's message (for the note the user sees).</param>
/// <param name="Recheck">How soon to read it again.</param>
internal sealed record UnreadableFile(string Why, TimeSpan Recheck);
