namespace Dropbox.StorageNode.Store;

/// <summary>What <see cref="StoreSnapshot.TakeAsync"/> wrote: where, how many segment files (of which hard links), and their bytes.</summary>
public sealed record StoreSnapshotResult(string Path, int Segments, int Linked, long Bytes);
