using Dropbox.SyncClient.State;

namespace Dropbox.SyncClient.Sync;

/// <summary>A download renamed into place, not yet recorded.</summary>
/// <param name="Record">What to record for it once its folder's entry is durable.</param>
/// <param name="ConflictCopy">A local edit made meanwhile was moved aside to this path (upload it).</param>
internal sealed record PlacedDownload(FileRecord Record, string? ConflictCopy);
