namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// A storage node an admin forgot (<c>nodes forget</c>): its id may not register again. Kept on disk as the stored
/// schema's <c>ForgottenNodeRecord</c>, mapped in <c>Storage/StoredFormat</c> only.
/// </summary>
/// <param name="NodeId">The forgotten node's id.</param>
/// <param name="ForgottenUnixMs">When it was forgotten (Unix ms).</param>
/// <param name="AllLocationsCleared">Every chunk record has dropped the node (false: the forget resumes at open).</param>
internal sealed record ForgottenNodeInfo(string NodeId, long ForgottenUnixMs, bool AllLocationsCleared);
