using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Protos.Admin;

namespace Dropbox.MetadataNode.Services.Mapping;

/// <summary>The admin API's messages from the domain's users and nodes, in one place.</summary>
internal static class AdminMapping
{
    /// <summary>A node with what the replication report says of it.</summary>
    public static NodeSummary ToProto(StorageNodeInfo node, Domain.Replication.NodeReport report, DateTimeOffset? restartFenceUntil = null)
    {
        var (state, chunks, under) = report.Of(node);
        return new NodeSummary
        {
            NodeId = node.NodeId,
            GrpcUrl = node.GrpcUrl,
            State = state,
            UsedBytes = node.UsedBytes,
            FreeBytes = node.FreeBytes,
            Chunks = (ulong)chunks,
            UnderReplicated = (ulong)under,
            LastHeartbeatUnixMs = node.LastHeartbeatUnixMs,
            Reason = report.ReasonOf(node, restartFenceUntil),
        };
    }

    /// <summary>A forgotten node, as <c>nodes list</c> shows it.</summary>
    public static NodeSummary ToProto(ForgottenNodeInfo node) => new()
    {
        NodeId = node.NodeId,
        State = "forgotten",
        Reason = $"forgotten ('nodes forget') at {DateTimeOffset.FromUnixTimeMilliseconds(node.ForgottenUnixMs):u}; its id cannot register again{(node.AllLocationsCleared ? "" : "; its chunk locations are still being cleared")}",
    };

    /// <summary>A user's details.</summary>
    public static UserSummary ToProto(UserDetails user) => new()
    {
        Name = user.Name,
        NamespaceId = user.NamespaceId,
        Admin = user.Admin,
        QuotaBytes = user.QuotaBytes,
        UsedBytes = user.UsedBytes,
        FileCount = user.FileCount,
    };

    /// <summary>What a forget did, with the chunks and file versions it left unreadable.</summary>
    public static ForgetNodeResponse ToProto(ForgottenNode forgotten)
    {
        var response = new ForgetNodeResponse
        {
            LocationsCleared = (ulong)forgotten.LocationsCleared,
            ChunksLost = (ulong)forgotten.ChunksLost,
            Truncated = forgotten.Truncated,
        };
        response.LostChunkIds.AddRange(forgotten.LostChunks.Select(c => c.ToString()));
        response.LostFiles.AddRange(forgotten.LostFiles.Select(f => new Dropbox.Shared.Protos.Admin.LostFileVersion { User = f.User, Path = f.Path, Version = f.Version }));
        return response;
    }
}
