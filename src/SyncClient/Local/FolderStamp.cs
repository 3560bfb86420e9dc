namespace Dropbox.SyncClient.Local;

/// <summary>A folder a walk before a case-clash rename read, with the mtime it had then (see <see cref="Stability.FolderChangedSinceWalk"/>).</summary>
/// <param name="Full">Its full path.</param>
/// <param name="Relative">Its path relative to the synced folder.</param>
/// <param name="MtimeTicks">Its mtime as the walk read it.</param>
internal readonly record struct FolderStamp(string Full, string Relative, long MtimeTicks);
