namespace Dropbox.SyncClient.Sync;

/// <summary>What the metadata node was found to support, learned once and kept for an engine's life (across passes).</summary>
internal sealed class ServerSupport
{
    private volatile bool _noPlanChunks;
    private volatile bool _noBatchedUploads;

    /// <summary>
    /// Set once the server answered PlanUploads or CommitFiles with UNIMPLEMENTED (an older metadata node): from then on
    /// each file of a group is planned with PlanUpload and committed with CommitFile.
    /// </summary>
    public bool NoBatchedUploads
    {
        get => _noBatchedUploads;
        set => _noBatchedUploads = value;
    }

    /// <summary>
    /// Set once the server answered PlanChunks with UNIMPLEMENTED (an older metadata node): from then on a new file is
    /// hashed first and planned whole with PlanUpload, as before the one-read upload.
    /// </summary>
    public bool NoPlanChunks
    {
        get => _noPlanChunks;
        set => _noPlanChunks = value;
    }
}
