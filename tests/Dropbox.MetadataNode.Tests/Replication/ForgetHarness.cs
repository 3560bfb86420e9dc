using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Chunks;
using Dropbox.MetadataNode.Services.Mapping;
using Dropbox.MetadataNode.Tests.Infrastructure;
using Dropbox.Shared.Protos.Metadata;
using Proto = Dropbox.Shared.Protos.Common;

namespace Dropbox.MetadataNode.Tests.Replication;

/// <summary>The store the <c>nodes forget</c> tests share: R=2, nodes A and B registered, and a node's "stored" report.</summary>
internal static class ForgetHarness
{
    public const string NodeB = "node-b";

    public static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    public static StoreHarness Create(TimeSpan? nodeTimeout = null, TimeSpan? eventWait = null)
    {
        var h = new StoreHarness(o => o with
        {
            NodeTimeout = nodeTimeout ?? TimeSpan.FromDays(365),
            GcGracePeriod = Grace,
            ReplicationFactor = 2,
            EventWait = eventWait ?? o.EventWait,
        });
        h.Store.Nodes.Register(new NodeRegistration(NodeB, "http://127.0.0.1:2", "http://127.0.0.1:2", 0, 0));
        return h;
    }

    /// <summary>Alice's file "f" of one chunk (of <paramref name="seed"/>), committed with copies on A and B.</summary>
    public static async Task<(UserInfo Alice, ChunkRef Chunk)> CommittedOnAAndBAsync(StoreHarness h, int seed)
    {
        var (alice, _) = h.Store.AddUser("alice");
        var chunk = StoreHarness.Chunk(seed);
        await h.PutFileAsync(alice, "f", 0, chunk);
        ReportOn(h, NodeB, alice, chunk);
        return (alice, chunk);
    }

    /// <summary>Registers one more storage node (at 127.0.0.1:<paramref name="port"/>, never called).</summary>
    public static void RegisterNode(StoreHarness h, string nodeId, int port) =>
        h.Store.Nodes.Register(new NodeRegistration(nodeId, $"http://127.0.0.1:{port}", $"http://127.0.0.1:{port}", 0, 0));

    /// <summary>What <paramref name="node"/> does after a put of <paramref name="chunks"/>: holds them and reports them stored.</summary>
    public static void ReportOn(StoreHarness h, string node, UserInfo user, params ChunkRef[] chunks)
    {
        var report = new ReportChunksStoredRequest { NodeId = node };
        foreach (var c in chunks)
        {
            h.Gateway.Put(node, c.Id);
            report.Chunks.Add(new StoredChunk { ChunkId = c.Id.ToByteString(), Size = (uint)c.Size, Encoding = Proto.ChunkEncoding.Raw, StoredSize = (uint)c.StoredSize, NamespaceId = user.Namespace.Value });
        }

        h.Store.ReportChunksStored(report);
    }
}
