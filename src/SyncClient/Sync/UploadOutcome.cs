namespace Dropbox.SyncClient.Sync;

/// <summary>How an upload ended.</summary>
internal enum UploadOutcome
{
    Committed,
    Conflict,
    Changed,
}
