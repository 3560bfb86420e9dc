using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Storage.Records;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Chunks;
using Dropbox.Shared.Protos.Metadata;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>
/// The store the replan tests share: node a (the harness's) and nodes b, c (and d when asked), a replication factor,
/// and a node's "stored" report of an account's puts.
/// </summary>
internal static class ReplanHarness
{
    public const string NodeB = "node-b";
    public const string NodeC = "node-c";
    public const string NodeD = "node-d";

    public static StoreHarness Create(int replicationFactor = 2, TimeSpan? nodeTimeout = null, bool withD = false, TimeSpan? eventWait = null)
    {
        var h = new StoreHarness(o => o with { NodeTimeout = nodeTimeout ?? TimeSpan.FromDays(1), ReplicationFactor = replicationFactor, EventWait = eventWait ?? o.EventWait });
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        h.Store.Nodes.Register(new NodeRegistration(NodeC, "http://127.0.0.1:3", "http://127.0.0.1:3", 0, 0));
        if (withD)
        {
            h.Store.Nodes.Register(new NodeRegistration(NodeD, "http://127.0.0.1:4", "http://127.0.0.1:4", 0, 0));
        }

        return h;
    }

    /// <summary>What <paramref name="node"/> does after <paramref name="user"/>'s puts of <paramref name="chunks"/>: holds them and reports them stored.</summary>
    public static void Report(StoreHarness h, UserInfo user, string node, params ChunkRef[] chunks)
    {
        var report = new ReportChunksStoredRequest { NodeId = node };
        foreach (var c in chunks)
        {
            h.Gateway.Put(node, c.Id);
            report.Chunks.Add(new StoredChunk { ChunkId = c.Id.ToByteString(), Size = (uint)c.Size, StoredSize = (uint)c.Size, NamespaceId = user.Namespace.Value });
        }

        h.Store.ReportChunksStored(report);
    }

    /// <summary>Each node's report of the puts <paramref name="plan"/> asked of it, as if every put landed.</summary>
    public static void PutAll(StoreHarness h, UserInfo user, UploadPlan plan, ChunkRef[] chunks)
    {
        foreach (var node in plan.Missing.GroupBy(p => p.Node.NodeId))
        {
            Report(h, user, node.Key, chunks.Where(c => node.Any(p => p.ChunkId == c.Id)).ToArray());
        }
    }

    /// <summary>The puts of a plan as "chunk index:node", sorted (the index in <paramref name="chunks"/>).</summary>
    public static List<string> Puts(UploadPlan plan, ChunkRef[] chunks) =>
        plan.Missing.Select(p => $"{Array.FindIndex(chunks, c => c.Id == p.ChunkId)}:{p.Node.NodeId}").Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// Bob's put of <paramref name="chunk"/> on <paramref name="nodes"/>, never committed; after the grace the collector
    /// runs with every other node heartbeating and b down (<paramref name="downB"/>) or up: each node that answers deletes
    /// its copy, b's deletion (when b is down and holds one) waits, the chunk still being deleted.
    /// </summary>
    public static async Task<UserInfo> StickDeletionAsync(StoreHarness h, ChunkRef chunk, string[] nodes, bool downB = true)
    {
        var (bob, _) = h.Store.AddUser("bob");
        h.Store.PlanUpload(bob, StoreHarness.Upload("b", 0, chunk));
        foreach (var node in nodes)
        {
            Report(h, bob, node, chunk);
        }

        h.Clock.Advance(h.Options.GcGracePeriod + TimeSpan.FromMinutes(1));
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        if (h.Store.Nodes.TryGet(NodeD, out _))
        {
            h.Store.Nodes.Heartbeat(NodeD, 0, 0);
        }

        if (downB)
        {
            h.Gateway.Down[NodeB] = true;
        }
        else
        {
            h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        }

        await h.Store.RunGcOnceAsync(CancellationToken.None);
        if (downB && nodes.Contains(NodeB))
        {
            Assert.Equal(ChunkState.Deleting, ChunkLedger.Read(h.Store.Engine, chunk.Id)!.State);
        }

        return bob;
    }

    /// <summary>Every registered node heartbeats now (a, b, c, and d when registered).</summary>
    public static void HeartbeatAll(StoreHarness h)
    {
        h.Heartbeat();
        h.Store.Nodes.Heartbeat(NodeB, 0, 0);
        h.Store.Nodes.Heartbeat(NodeC, 0, 0);
        if (h.Store.Nodes.TryGet(NodeD, out _))
        {
            h.Store.Nodes.Heartbeat(NodeD, 0, 0);
        }
    }

    /// <summary>The first test chunk from <paramref name="firstSeed"/> on whose best-placed node among <paramref name="nodes"/> is <paramref name="node"/>.</summary>
    public static ChunkRef ChunkWhereBestIs(string node, string[] nodes, int firstSeed)
    {
        for (var seed = firstSeed; ; seed++)
        {
            var chunk = StoreHarness.Chunk(seed);
            if (nodes.MaxBy(n => Placement.Score(n, chunk.Id)) == node)
            {
                return chunk;
            }
        }
    }
}
