using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.MetadataNode.Domain;

internal sealed partial class MetadataStore
{
    private const int MaxUrlLength = 2048;

    /// <summary>Registers (or re-registers) a storage node.</summary>
    public RegisterNodeResponse RegisterNode(RegisterNodeRequest request)
    {
        var nodeId = ValidNodeId(request.NodeId);
        if (!Uri.TryCreate(request.GrpcUrl, UriKind.Absolute, out var grpc) || (grpc.Scheme != Uri.UriSchemeHttp && grpc.Scheme != Uri.UriSchemeHttps))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"grpc_url must be an absolute http(s) URL; got '{request.GrpcUrl}'.");
        }

        if (request.GrpcUrl.Length > MaxUrlLength || request.HttpUrl.Length > MaxUrlLength)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"grpc_url and http_url are at most {MaxUrlLength} characters.");
        }

        if (request.HttpUrl.Length > 0 && !Uri.TryCreate(request.HttpUrl, UriKind.Absolute, out _))
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"http_url must be an absolute URL; got '{request.HttpUrl}'.");
        }

        var node = new NodeRecord
        {
            NodeId = nodeId,
            GrpcUrl = request.GrpcUrl,
            HttpUrl = request.HttpUrl,
            CapacityBytes = request.CapacityBytes,
            UsedBytes = request.UsedBytes,
            LastHeartbeatUnixMs = NowMs,
            Draining = _nodes.TryGetValue(nodeId, out var known) && known.Draining, // a restart does not end a drain
        };
        Mutate<object?>(null, (batch, _) =>
        {
            batch.PutNode(node);
            return null;
        });
        _nodes[nodeId] = node;
        Log.NodeRegistered(_logger, nodeId, request.GrpcUrl);
        return new RegisterNodeResponse { HeartbeatSeconds = (uint)Math.Max(1, _options.HeartbeatInterval.TotalSeconds) };
    }

    /// <summary>Records a heartbeat; an unknown node must register first.</summary>
    public void Heartbeat(HeartbeatRequest request)
    {
        var nodeId = ValidNodeId(request.NodeId);
        if (!_nodes.TryGetValue(nodeId, out var existing))
        {
            throw new DropboxException(ErrorKind.NotFound, $"Node '{nodeId}' is not registered: call RegisterNode first.");
        }

        var node = existing.Clone();
        node.UsedBytes = request.UsedBytes;
        node.ChunkCount = request.ChunkCount;
        node.LastHeartbeatUnixMs = NowMs;
        Mutate<object?>(null, (batch, _) =>
        {
            batch.PutNode(node);
            return null;
        });
        _nodes[nodeId] = node;
    }

    /// <summary>
    /// Records "chunk stored" events: the chunk is confirmed on the node, and the namespace named in the put
    /// token is remembered as having uploaded it, so a resumed upload does not send it again.
    /// </summary>
    public void ReportChunksStored(ReportChunksStoredRequest request)
    {
        var nodeId = ValidNodeId(request.NodeId);
        if (!_nodes.ContainsKey(nodeId))
        {
            throw new DropboxException(ErrorKind.NotFound, $"Node '{nodeId}' is not registered: call RegisterNode first.");
        }

        if (request.Chunks.Count > Limits.MaxReportedChunks)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, $"Too many chunks in one report: {request.Chunks.Count}; send at most {Limits.MaxReportedChunks}.");
        }

        var parsed = new List<(ChunkId Id, StoredChunk Chunk)>(request.Chunks.Count);
        foreach (var chunk in request.Chunks)
        {
            var id = chunk.ChunkId.ToChunkId();
            if (chunk.Size > Limits.MaxChunkSize || chunk.StoredSize > Limits.MaxChunkSize)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {id.ToShortString()}: size {chunk.Size} / stored_size {chunk.StoredSize} out of range; a chunk is at most {Limits.MaxChunkSize} bytes.");
            }

            if (chunk.Encoding is not (Dropbox.Shared.Protos.Common.ChunkEncoding.Raw or Dropbox.Shared.Protos.Common.ChunkEncoding.Lz4))
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {id.ToShortString()}: encoding {(int)chunk.Encoding} is unknown.");
            }

            if (chunk.NamespaceId.Length > 255)
            {
                throw new DropboxException(ErrorKind.InvalidArgument, $"Chunk {id.ToShortString()}: namespace_id is longer than 255 characters.");
            }

            parsed.Add((id, chunk));
        }

        var now = NowMs;
        var confirmed = new List<(NamespaceState State, ChunkId Id)>();
        Mutate<object?>(null, (batch, _) =>
        {
            foreach (var (id, chunk) in parsed)
            {
                var trusted = MarkStored(batch, nodeId, id, chunk.Size, chunk.Encoding, chunk.StoredSize, now, verified: false);
                if (chunk.NamespaceId.Length > 0 && _namespaces.TryGetValue(chunk.NamespaceId, out var state))
                {
                    if (trusted)
                    {
                        confirmed.Add((state, id));
                    }

                    var nsChunk = batch.GetNamespaceChunk(chunk.NamespaceId, id) ?? new NamespaceChunkRecord();
                    nsChunk.UploadedUnixMs = now;
                    batch.PutNamespaceChunk(chunk.NamespaceId, id, nsChunk);
                }
            }

            return null;
        });

        // Written: no longer outstanding. An event not trusted (the chunk is being deleted) leaves the put pending, so
        // the commit still asks the node.
        foreach (var (state, id) in confirmed)
        {
            state.Pending.Remove(id);
        }

        _eventsSignal.Notify();
    }

    /// <summary>Registered nodes whose heartbeat is fresh.</summary>
    internal List<NodeRecord> LiveNodes()
    {
        var cutoff = NowMs - (long)_options.NodeTimeout.TotalMilliseconds;
        var result = new List<NodeRecord>(_nodes.Count);
        foreach (var node in _nodes.Values)
        {
            if (node.LastHeartbeatUnixMs >= cutoff)
            {
                result.Add(node);
            }
        }

        return result;
    }

    private bool IsLiveNode(NodeRecord node) => node.LastHeartbeatUnixMs >= NowMs - (long)_options.NodeTimeout.TotalMilliseconds;

    private static ChunkLocation ToLocation(NodeRecord node) => new() { NodeId = node.NodeId, GrpcUrl = node.GrpcUrl, HttpUrl = node.HttpUrl };

    private static string ValidNodeId(string nodeId)
    {
        try
        {
            return new NodeId(nodeId).Value;
        }
        catch (ArgumentException ex)
        {
            throw new DropboxException(ErrorKind.InvalidArgument, ex.Message, ex);
        }
    }
}
