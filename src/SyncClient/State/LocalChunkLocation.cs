namespace Dropbox.SyncClient.State;

/// <summary>Where a chunk's plain bytes can be found in a local file, for reuse instead of download.</summary>
internal readonly record struct LocalChunkLocation(string Path, long Offset, int Length);
