using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.MetadataNode.Services.Mapping;

/// <summary>The cluster API's messages to and from the domain (node registry, chunk ledger), in one place.</summary>
internal static class ClusterMapping
{
    /// <summary>A node's registration as the registry takes it.</summary>
    public static NodeRegistration ToDomain(RegisterNodeRequest request) =>
        new(request.NodeId, request.GrpcUrl, request.HttpUrl, request.CapacityBytes, request.UsedBytes, request.Full);

    /// <summary>The heartbeat interval the registry asks for (at least a second).</summary>
    public static RegisterNodeResponse ToResponse(TimeSpan heartbeatInterval) =>
        new() { HeartbeatSeconds = (uint)Math.Max(1, heartbeatInterval.TotalSeconds) };

    /// <summary>Records a node's "chunk stored" report (<see cref="MetadataStore.ReportChunksStored"/>) as the cluster API received it.</summary>
    public static void ReportChunksStored(this MetadataStore store, ReportChunksStoredRequest request) =>
        store.ReportChunksStored(request.NodeId, ToDomain(request));

    /// <summary>Records a node's report of corrupt chunks (<see cref="MetadataStore.ReportChunksCorrupt"/>) and answers what it changed.</summary>
    public static ReportChunksCorruptResponse ReportChunksCorrupt(this MetadataStore store, ReportChunksCorruptRequest request)
    {
        if (request.ChunkIds.Count > Limits.MaxReportedChunks)
        {
            throw UploadCommit.TooManyReported(request.ChunkIds.Count);
        }

        var report = store.ReportChunksCorrupt(request.NodeId, request.ChunkIds.Select(id => id.ToChunkId()).ToList());
        return new ReportChunksCorruptResponse { Repairable = (uint)report.Repairable, Lost = (uint)report.Lost.Count };
    }

    /// <summary>
    /// A node's "chunk stored" events as the ledger takes them: the count is bounded before any id is read, a malformed
    /// id is InvalidArgument (sizes, encodings and the node are checked by the domain).
    /// </summary>
    public static List<StoredChunkReport> ToDomain(ReportChunksStoredRequest request)
    {
        if (request.Chunks.Count > Limits.MaxReportedChunks)
        {
            throw UploadCommit.TooManyReported(request.Chunks.Count);
        }

        var chunks = new List<StoredChunkReport>(request.Chunks.Count);
        foreach (var chunk in request.Chunks)
        {
            chunks.Add(new StoredChunkReport(chunk.ChunkId.ToChunkId(), chunk.Size, (ChunkEncoding)chunk.Encoding, chunk.StoredSize, chunk.NamespaceId));
        }

        return chunks;
    }
}
