using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.MetadataNode.Services.Mapping;

internal static partial class SyncMapping
{
    /// <summary>A plan as the PlanUpload (and PlanChunks) answer.</summary>
    public static PlanUploadResponse ToResponse(UploadPlan plan) => ToResponse(plan, [], new(StringComparer.Ordinal));

    /// <summary>Plans of several files as the PlanUploads answer, in the order of the files; a put shared by files is written once.</summary>
    public static PlanUploadsResponse ToResponse(IReadOnlyList<UploadPlan> plans)
    {
        var response = new PlanUploadsResponse();
        var puts = new Dictionary<PlannedPut, ChunkPut>(); // by reference: a put one file shares with another is one object
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
