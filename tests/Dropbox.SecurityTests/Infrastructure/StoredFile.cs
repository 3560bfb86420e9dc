using Dropbox.Shared.Protos.Metadata;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.SecurityTests.Infrastructure;

/// <summary>A file a party uploaded and committed: its entry, its chunks and their plain bytes.</summary>
internal sealed record StoredFile(FileEntry Entry, IReadOnlyList<Proto.ChunkRef> Chunks, IReadOnlyList<byte[]> Pieces, PlanUploadResponse Plan);
