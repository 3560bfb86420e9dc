using System.Collections.Concurrent;
using Dropbox.MetadataNode.Domain;
using Dropbox.Shared.Chunks;

namespace Dropbox.MetadataNode.Tests.Infrastructure;

/// <summary>
/// In-memory stand-in for the storage nodes (a different component): which node holds which chunk, with a
/// hook that can hold a delete in flight so a test can interleave calls deterministically.
/// </summary>
internal sealed class FakeGateway : IStorageNodeGateway
{
    private readonly ConcurrentDictionary<(string Node, ChunkId Id), bool> _held = new();

    public Func<Task>? BeforeDelete { get; set; }

    /// <summary>Nodes that answer nothing (a delete sent there fails, as to a node that is gone).</summary>
    public ConcurrentDictionary<string, bool> Down { get; } = new(StringComparer.Ordinal);

    /// <summary>Runs after a presence answer is made and before it is returned (the answer may then be stale).</summary>
    public Func<Task>? AfterHas { get; set; }

    public int HasCalls;

    /// <summary>When set, every put, delete and presence answer is noted here in order (stress tests print it on failure).</summary>
    public ConcurrentQueue<string>? Trace { get; set; }

    public void Note(string what) => Trace?.Enqueue(what);

    public void Put(string node, ChunkId id)
    {
        _held[(node, id)] = true;
        Note($"node put {id.ToShortString()}");
    }

    /// <summary>The node no longer holds the chunk (quarantined by its scrub, or lost).</summary>
    public void Remove(string node, ChunkId id) => _held.TryRemove((node, id), out _);

    public bool Holds(string node, ChunkId id) => _held.ContainsKey((node, id));

    public bool HoldsAnywhere(ChunkId id) => _held.Keys.Any(k => k.Id == id);

    public async Task<bool[]> HasChunksAsync(StorageNodeInfo node, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref HasCalls);
        var answer = ids.Select(id => Holds(node.NodeId, id)).ToArray();
        for (var i = 0; i < ids.Count; i++)
        {
            Note($"node has {ids[i].ToShortString()}: {answer[i]}");
        }

        if (AfterHas is { } hook)
        {
            await hook();
        }

        // As a real call: one whose token was cancelled while it was out fails.
        cancellationToken.ThrowIfCancellationRequested();
        return answer;
    }

    public async Task<int> DeleteChunksAsync(StorageNodeInfo node, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
    {
        if (BeforeDelete is { } hook)
        {
            await hook();
        }

        if (Down.ContainsKey(node.NodeId))
        {
            throw new HttpRequestException($"{node.NodeId} is down");
        }

        var n = 0;
        foreach (var id in ids)
        {
            if (_held.TryRemove((node.NodeId, id), out _))
            {
                n++;
            }

            Note($"node delete {id.ToShortString()}");
        }

        return n;
    }
}
