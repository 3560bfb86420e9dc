namespace Dropbox.SyncClient.Sync;

/// <summary>
/// What the planner held back and why: the plan it made would delete <see cref="LocalDeletes"/> files here and
/// <see cref="RemoteDeletes"/> entries on the server (files, and for <see cref="DeleteHoldReason.OldDbFirstPass"/>
/// folders too) of <see cref="SyncedFiles"/> synced files; <see cref="Example"/> is the first remote delete (its path).
/// </summary>
internal sealed record DeleteHold(DeleteHoldReason Reason, int LocalDeletes, int RemoteDeletes, long SyncedFiles, double Share, string? Example);
