using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;
using Google.Protobuf.Collections;

namespace Dropbox.MetadataNode.Services.Mapping;

internal static partial class SyncMapping
{
    /// <summary>The files of a GetDownloadPlans request as the planner's requests.</summary>
    public static List<DownloadRequest> ToDomain(IReadOnlyList<GetDownloadPlanRequest> files)
    {
        var requests = new List<DownloadRequest>(files.Count);
        foreach (var f in files)
        {
            requests.Add(new DownloadRequest(f.Path, f.Version, f.Limit));
        }

        return requests;
    }

    /// <summary>
    /// A plan as GetDownloadPlan answers it: the whole plan in the original form (nodes and a token in every chunk),
    /// refused when too large for one answer; a page in the compact form.
    /// </summary>
    public static GetDownloadPlanResponse ToResponse(DownloadPlan plan)
    {
        if (plan.Paged)
        {
            var page = new GetDownloadPlanResponse();
            FillPage(page, plan, new CompactPlan(page.Nodes, page.Tokens));
            return page;
        }

        var response = new GetDownloadPlanResponse { Entry = ToWire(plan.Entry) };
        foreach (var source in plan.Chunks)
        {
            var get = new ChunkGet { Chunk = source.Chunk.ToProto() };
            foreach (var node in source.Holders)
            {
                get.Nodes.Add(ToLocation(node));
            }

            get.Tokens.AddRange(source.Tokens);
            response.Chunks.Add(get);
        }

        if (response.CalculateSize() > Limits.MaxUnpagedPlanBytes)
        {
            throw DownloadPlanner.PlanTooLarge(plan.Entry.Path, plan.Entry.Chunks.Count);
        }

        return response;
    }

    /// <summary>Many files' plans in one compact answer: each node and each get token listed once for the whole answer; a file gone gets an empty plan.</summary>
    public static GetDownloadPlansResponse ToResponse(IReadOnlyList<DownloadPlan?> plans)
    {
        var response = new GetDownloadPlansResponse();
        var compact = new CompactPlan(response.Nodes, response.Tokens);
        foreach (var plan in plans)
        {
            var page = new GetDownloadPlanResponse();
            if (plan is not null)
            {
                FillPage(page, plan, compact);
            }

            response.Plans.Add(page);
        }

        return response;
    }

    private static void FillPage(GetDownloadPlanResponse page, DownloadPlan plan, CompactPlan compact)
    {
        // A paged plan's entry has no chunk list: the pages carry it.
        page.Entry = ToWire(plan.Entry, withChunks: false);
        page.TotalChunks = (uint)plan.Entry.Chunks.Count;
        page.HasMore = plan.HasMore;
        foreach (var source in plan.Chunks)
        {
            page.Chunks.Add(compact.Get(source));
        }
    }

    /// <summary>
    /// Writes download plans in their compact form: each node and each get token listed once in the answer's
    /// <c>nodes</c> and <c>tokens</c>, every chunk naming them by index.
    /// </summary>
    private sealed class CompactPlan(RepeatedField<ChunkLocation> nodes, RepeatedField<string> tokens)
    {
        private readonly Dictionary<string, uint> _nodeIndex = new(StringComparer.Ordinal);
        private readonly Dictionary<string, uint> _tokenIndex = new(StringComparer.Ordinal);

        /// <summary>The get of a chunk from its holders, each with its token.</summary>
        public ChunkGet Get(ChunkSource source)
        {
            var get = new ChunkGet { Chunk = source.Chunk.ToProto() };
            for (var k = 0; k < source.Holders.Count; k++)
            {
                var node = source.Holders[k];
                if (!_nodeIndex.TryGetValue(node.NodeId, out var n))
                {
                    _nodeIndex[node.NodeId] = n = (uint)nodes.Count;
                    nodes.Add(ToLocation(node));
                }

                var token = source.Tokens[k];
                if (!_tokenIndex.TryGetValue(token, out var t))
                {
                    _tokenIndex[token] = t = (uint)tokens.Count;
                    tokens.Add(token);
                }

                get.NodeIndexes.Add(n);
                get.TokenIndexes.Add(t);
            }

            return get;
        }
    }
}
