using Dropbox.Shared.Chunks;

namespace Dropbox.SyncClient.Remote;

/// <summary>A chunk on its way to a storage node, with the put token the metadata node issued for it.</summary>
internal sealed record OutgoingChunk(ChunkId Id, ChunkEncoding Encoding, int PlainSize, string Token, ReadOnlyMemory<byte> Stored);
