using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Domain;

internal sealed partial class UploadCommit
{
    /// <summary>
    /// Records "chunk stored" events: the chunk is confirmed on the node, and the namespace named in the put
    /// token is remembered as having uploaded it there, so a resumed upload does not send it again (as far as its
    /// copies on such nodes cover the replication factor).
    /// </summary>
    public void ReportChunksStored(string reportingNode, IReadOnlyList<StoredChunkReport> chunks)
    {
        var nodeId = NodeRegistry.ValidNodeId(reportingNode);
        _nodeRegistry.Require(nodeId);

        if (chunks.Count > Limits.MaxReportedChunks)
        {
            throw TooManyReported(chunks.Count);
        }

        foreach (var chunk in chunks)
        {
            var id = chunk.Id;
            if (chunk.Size > Limits.MaxChunkSize || chunk.StoredSize > Limits.MaxChunkSize)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {id.ToShortString()}: size {chunk.Size} / stored_size {chunk.StoredSize} out of range; a chunk is at most {Limits.MaxChunkSize} bytes.");
            }

            if (chunk.Encoding is not (ChunkEncoding.Raw or ChunkEncoding.Lz4))
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {id.ToShortString()}: encoding {(int)chunk.Encoding} is unknown.");
            }

            if (chunk.NamespaceId.Length > 255)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {id.ToShortString()}: namespace_id is longer than 255 characters.");
            }
        }

        BeforeReportWrite?.Invoke();
        var now = NowMs;
        var confirmed = new List<(NamespaceState State, ChunkId Id)>();
        var landed = new List<ChunkId>();
        Mutate<object?>(null, (batch, _) =>
        {
            // Checked again under the write lock, where a forget changes the registry: a report checked above and
            // written after the forget listed the node's copies would add a copy nothing ever clears.
            if (_nodeRegistry.IsBeingForgotten(nodeId))
            {
                throw new DropboxException(ErrorKind.Unavailable, $"Node '{nodeId}' is being forgotten ('nodes forget'): its reports are not recorded.");
            }

            _nodeRegistry.Require(nodeId);
            landed.Clear();
            foreach (var chunk in chunks)
            {
                var id = chunk.Id;
                var trusted = MarkStored(batch, nodeId, id, chunk.Size, chunk.Encoding, chunk.StoredSize, now, verified: false);
                if (trusted)
                {
                    // Only a recorded copy ends the put: after an event not trusted (the chunk is, or was, being
                    // deleted) a commit may still ask the node and record a copy there, so a drain must wait for it.
                    landed.Add(id);
                }

                // A removed account (being purged) gets no new marks: they would outlive its purge.
                if (chunk.NamespaceId.Length > 0 && _namespaces.TryGetValue(chunk.NamespaceId, out var state) && !state.Record.Removed)
                {
                    if (trusted)
                    {
                        confirmed.Add((state, id));
                    }

                    // Trusted or not, the node is one of the account's own put nodes (OwnCopies).
                    var nsChunk = batch.GetNamespaceChunk(chunk.NamespaceId, id) ?? new NamespaceChunkRecord();
                    OwnCopies.NoteEvent(nsChunk, nodeId, now, _options.GcGracePeriod);
                    batch.PutNamespaceChunk(chunk.NamespaceId, id, nsChunk);
                }
            }

            return null;
        });

        // Ended only once the copy is written: a node report reads the puts, then the records, and must see one of them.
        foreach (var id in landed)
        {
            _nodeRegistry.PutLanded(nodeId, id);
        }

        // Written: no longer outstanding. An event not trusted (the chunk is being deleted) leaves the put pending, so
        // the commit still asks the node.
        foreach (var (state, id) in confirmed)
        {
            state.Pending.Remove(id);
        }

        _eventsSignal.Notify();
    }

    /// <summary>Tests: runs once a report is checked, before it is written.</summary>
    internal Action? BeforeReportWrite { get; set; }

    /// <summary>Registered nodes whose heartbeat is fresh.</summary>
    internal List<StorageNodeInfo> LiveNodes() => _nodeRegistry.LiveNodes();

    internal List<StorageNodeInfo> PlacementNodes() => _nodeRegistry.PlacementNodes();

    /// <summary>The refusal of a report of more than <see cref="Limits.MaxReportedChunks"/> chunks.</summary>
    internal static DropboxException TooManyReported(int count) =>
        new(ErrorKind.InvalidArgument, $"Too many chunks in one report: {count}; send at most {Limits.MaxReportedChunks}.");
}
