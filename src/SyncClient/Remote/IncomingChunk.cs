using Dropbox.Shared.Chunks;

namespace Dropbox.SyncClient.Remote;

/// <summary>A chunk as a storage node sent it (not yet decoded or verified).</summary>
internal sealed record IncomingChunk(ChunkId Id, ChunkEncoding Encoding, int PlainSize, byte[] Stored);
