using Dropbox.Shared.Chunks;

namespace Dropbox.StorageNode.Engine;

/// <summary>A parsed, header-hash-verified record header.</summary>
internal readonly record struct RecordHeader(
    RecordKind Kind,
    ChunkId Id,
    ChunkEncoding Encoding,
    int PlainLength,
    int StoredLength,
    ulong PayloadHash);
