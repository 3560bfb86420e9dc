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
    public static PlanUploadResponse ToResponse(UploadPlan plan) => ToResponse(plan, [], new(StringComparer.Ordinal));

    /// <summary>Plans of several files as the PlanUploads answer, in the order of the files; a put shared by files is written once.</summary>
    public static PlanUploadsResponse ToResponse(IReadOnlyList<UploadPlan> plans)
    {
        var response = new PlanUploadsResponse();
        var puts = new Dictionary<PlannedPut, ChunkPut>(ReferenceEqualityComparer.Instance); // a put one file shares with another is one object
        var locations = new Dictionary<string, ChunkLocation>(StringComparer.Ordinal);
        foreach (var plan in plans)
        {
            response.Results.Add(ToResponse(plan, puts, locations));
        }

        return response;
    }

    private static PlanUploadResponse ToResponse(UploadPlan plan, Dictionary<PlannedPut, ChunkPut> puts, Dictionary<string, ChunkLocation> locations)
    {
        var response = new PlanUploadResponse { CurrentVersion = plan.CurrentVersion, Conflict = plan.Conflict };
        foreach (var put in plan.Missing)
        {
            if (!puts.TryGetValue(put, out var wire))
            {
                if (!locations.TryGetValue(put.Node.NodeId, out var location))
                {
                    locations[put.Node.NodeId] = location = ToLocation(put.Node);
                }

                puts[put] = wire = new ChunkPut { ChunkId = put.ChunkId.ToByteString(), Node = location, Token = put.Token };
            }

            response.Missing.Add(wire);
        }

        return response;
    }
}
