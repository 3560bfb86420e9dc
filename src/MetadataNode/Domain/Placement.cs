using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Rendezvous (highest random weight) hashing: each (node, chunk) pair gets a score and a chunk goes to the
/// nodes with the highest scores, so adding or removing a node moves only the chunks it wins or held.
/// </summary>
internal static class Placement
{
    /// <summary>The score of <paramref name="nodeId"/> for <paramref name="chunk"/>.</summary>
    public static ulong Score(string nodeId, ChunkId chunk)
    {
        Span<byte> buffer = stackalloc byte[ChunkId.Size + 128];
        chunk.WriteTo(buffer);
        var n = Encoding.UTF8.GetBytes(nodeId, buffer[ChunkId.Size..]);
        return XxHash64.HashToUInt64(buffer[..(ChunkId.Size + n)]);
    }

    /// <summary>The <paramref name="count"/> best nodes for a chunk, best first.</summary>
    public static List<StorageNodeInfo> Choose(IReadOnlyList<StorageNodeInfo> nodes, ChunkId chunk, int count)
    {
        var scored = new List<(ulong Score, StorageNodeInfo Node)>(nodes.Count);
        foreach (var node in nodes)
        {
            scored.Add((Score(node.NodeId, chunk), node));
        }

        scored.Sort((a, b) => b.Score.CompareTo(a.Score));
        var result = new List<StorageNodeInfo>(Math.Min(count, scored.Count));
        for (var i = 0; i < scored.Count && i < count; i++)
        {
            result.Add(scored[i].Node);
        }

        return result;
    }

    /// <summary>
    /// The <paramref name="count"/> best nodes for a chunk, those not in <paramref name="avoid"/> first: an avoided
    /// node (one the client found full or slow) still takes the copies the others cannot, so avoiding never costs a
    /// copy while enough healthy nodes are left.
    /// </summary>
    public static List<StorageNodeInfo> Choose(IReadOnlyList<StorageNodeInfo> nodes, ChunkId chunk, int count, IReadOnlySet<string>? avoid)
    {
        if (avoid is not { Count: > 0 })
        {
            return Choose(nodes, chunk, count);
        }

        var scored = new List<(bool Avoided, ulong Score, StorageNodeInfo Node)>(nodes.Count);
        foreach (var node in nodes)
        {
            scored.Add((avoid.Contains(node.NodeId), Score(node.NodeId, chunk), node));
        }

        scored.Sort((a, b) => a.Avoided != b.Avoided ? a.Avoided.CompareTo(b.Avoided) : b.Score.CompareTo(a.Score));
        var result = new List<StorageNodeInfo>(Math.Min(count, scored.Count));
        for (var i = 0; i < scored.Count && i < count; i++)
        {
            result.Add(scored[i].Node);
        }

        return result;
    }
}
