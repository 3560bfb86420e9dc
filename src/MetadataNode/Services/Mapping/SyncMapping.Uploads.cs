using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Errors;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.MetadataNode.Services.Mapping;

internal static partial class SyncMapping
{
    /// <summary>A PlanUpload request (or one file of PlanUploads) as a validated upload; malformed input is InvalidArgument saying what.</summary>
    public static FileUpload ToUpload(PlanUploadRequest request) =>
        FileUpload.Create(request.Path, request.Size, request.MtimeUnixMs, new WireChunks(request.Chunks), request.BaseVersion, null) with { AvoidNodes = FileUpload.ValidAvoidNodes(request.AvoidNodes) };

    /// <summary>A CommitFile request (or one file of CommitFiles) as a validated upload.</summary>
    public static FileUpload ToUpload(CommitFileRequest request) =>
        FileUpload.Create(request.Path, request.Size, request.MtimeUnixMs, new WireChunks(request.Chunks), request.BaseVersion, request.Device) with { Executable = request.Executable };

    /// <summary>A PlanChunks request as a validated window.</summary>
    public static ChunkWindow ToWindow(PlanChunksRequest request) =>
        ChunkWindow.Create(request.Path, request.Size, request.BaseVersion, new WireChunks(request.Chunks)) with { AvoidNodes = FileUpload.ValidAvoidNodes(request.AvoidNodes) };

    /// <summary>
    /// The files of a batch request as validated uploads, in order; the first malformed one is refused with its kind and
    /// a message starting "File #i: ".
    /// </summary>
    public static FileUpload[] ToUploads<TRequest>(IReadOnlyList<TRequest> files, Func<TRequest, FileUpload> toUpload)
    {
        var uploads = new FileUpload[files.Count];
        for (var i = 0; i < uploads.Length; i++)
        {
            try
            {
                uploads[i] = toUpload(files[i]);
            }
            catch (DropboxException ex)
            {
                throw new DropboxException(ex.Kind, $"File #{i}: {ex.Message}", ex);
            }
        }

        return uploads;
    }

    /// <summary>A plan as the PlanUpload (and PlanChunks) answer.</summary>
    public static PlanUploadResponse ToResponse(UploadPlan plan) => ToResponse(plan, [], null);

    /// <summary>
    /// Plans of several files as the PlanUploads answer, in the order of the files; a put shared by files is written once.
    /// <paramref name="compact"/>: each node and put token once, in the answer's tables, the puts naming them by index (a
    /// token covers up to <see cref="UploadPlanner.ChunksPerSharedToken"/> chunks, each its own put).
    /// </summary>
    public static PlanUploadsResponse ToResponse(IReadOnlyList<UploadPlan> plans, bool compact = false)
    {
        var response = new PlanUploadsResponse();
        var puts = new Dictionary<PlannedPut, ChunkPut>(ReferenceEqualityComparer.Instance); // a put one file shares with another is one object
        var tables = new WireTables(response, compact);
        foreach (var plan in plans)
        {
            response.Results.Add(ToResponse(plan, puts, tables));
        }

        return response;
    }

    private static PlanUploadResponse ToResponse(UploadPlan plan, Dictionary<PlannedPut, ChunkPut> puts, WireTables? tables)
    {
        tables ??= new WireTables(null, compact: false);
        var response = new PlanUploadResponse { CurrentVersion = plan.CurrentVersion, Conflict = plan.Conflict };
        foreach (var put in plan.Missing)
        {
            if (!puts.TryGetValue(put, out var wire))
            {
                puts[put] = wire = tables.Put(put);
            }

            response.Missing.Add(wire);
        }

        return response;
    }

    /// <summary>
    /// Writes puts: in the original form each with its node and token (one location object per node); in the compact
    /// form naming them by index in the answer's node and token tables, each entered once.
    /// </summary>
    private sealed class WireTables(PlanUploadsResponse? response, bool compact)
    {
        private readonly Dictionary<string, ChunkLocation> _locations = new(StringComparer.Ordinal);
        private readonly Dictionary<string, uint> _nodeIndexes = new(StringComparer.Ordinal);

        // By reference: the puts of a shared token hold the one string signed for them (an equal token signed apart
        // would only be listed twice).
        private readonly Dictionary<string, uint> _tokenIndexes = new(ReferenceEqualityComparer.Instance);

        public ChunkPut Put(PlannedPut put)
        {
            if (!compact)
            {
                if (!_locations.TryGetValue(put.Node.NodeId, out var location))
                {
                    _locations[put.Node.NodeId] = location = ToLocation(put.Node);
                }

                return new ChunkPut { ChunkId = put.ChunkId.ToByteString(), Node = location, Token = put.Token };
            }

            if (!_nodeIndexes.TryGetValue(put.Node.NodeId, out var node))
            {
                _nodeIndexes[put.Node.NodeId] = node = (uint)response!.Nodes.Count;
                response.Nodes.Add(ToLocation(put.Node));
            }

            if (!_tokenIndexes.TryGetValue(put.Token, out var token))
            {
                _tokenIndexes[put.Token] = token = (uint)response!.Tokens.Count;
                response.Tokens.Add(put.Token);
            }

            return new ChunkPut { ChunkId = put.ChunkId.ToByteString(), NodeIndex = node, TokenIndex = token };
        }
    }
}
