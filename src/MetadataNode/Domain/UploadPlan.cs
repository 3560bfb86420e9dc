namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// The answer to a plan: the puts the account must make (everything else need not be sent), and how the path stands
/// now. Whether another account holds a chunk never shows in it.
/// </summary>
/// <param name="CurrentVersion">The path's current version (0 when none).</param>
/// <param name="Conflict">The plan's base version is stale: a commit would be refused.</param>
/// <param name="Missing">The chunks to upload, each with a node and a put token (one per replica).</param>
internal sealed record UploadPlan(ulong CurrentVersion, bool Conflict, IReadOnlyList<PlannedPut> Missing);
