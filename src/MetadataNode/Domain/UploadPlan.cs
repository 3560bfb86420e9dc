namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The answer to a plan: the puts the account must make (everything else need not be sent), and how the path stands
/// now. Whether another account holds a chunk never shows in it.
/// </summary>
internal sealed class UploadPlan
{
    /// <summary>The chunks to upload, each with a node and a put token (one per replica).</summary>
    public List<PlannedPut> Missing { get; } = [];

    /// <summary>The path's current version (0 when none).</summary>
    public ulong CurrentVersion { get; set; }

    /// <summary>The plan's base version is stale: a commit would be refused.</summary>
    public bool Conflict { get; set; }
}
