using Dropbox.SyncClient.Local;

namespace Dropbox.SyncClient.Sync;

/// <summary>
/// How one upload ended: its outcome, or none when its group failed as a whole (upload it alone); the fingerprint it
/// was uploaded (or found in conflict) with, when it was read.
/// </summary>
internal sealed record UploadResult(SyncAction Action, UploadOutcome? Outcome, FileFingerprint? Fingerprint);
