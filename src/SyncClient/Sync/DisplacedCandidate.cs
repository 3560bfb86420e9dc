namespace Dropbox.SyncClient.Sync;

/// <summary>
/// A synced file in a leftover's folder whose synced version has the leftover's size, so could hold its bytes: a fact for
/// <see cref="DisplacedRules"/>, gathered by <see cref="DisplacedFacts"/>; it decides nothing.
/// </summary>
/// <param name="Path">The synced path.</param>
/// <param name="Size">The synced version's size (the db's record).</param>
/// <param name="ContentHash">The synced version's content hash (the db's record).</param>
/// <param name="Here">What is at the path here now, against the synced stamp.</param>
/// <param name="Remote">The path's remote change this pass; null: none.</param>
internal sealed record DisplacedCandidate(string Path, long Size, byte[] ContentHash, FoundHere Here, RemoteEntry? Remote);
