using Dropbox.Shared.Chunks;

namespace Dropbox.SyncClient.Local;

/// <summary>A local file's content as read: its chunk list and content hash, with the stat it was read under.</summary>
internal sealed record FileFingerprint(long Size, long MtimeTicks, IReadOnlyList<ChunkRef> Chunks, byte[] ContentHash);
