using System.Collections.Concurrent;
using Dropbox.MetadataNode.Domain;
using Dropbox.MetadataNode.Storage.Records;
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

    public int HasCalls;

    public void Put(string node, ChunkId id) => _held[(node, id)] = true;

    public bool Holds(string node, ChunkId id) => _held.ContainsKey((node, id));

    public bool HoldsAnywhere(ChunkId id) => _held.Keys.Any(k => k.Id == id);

    public Task<bool[]> HasChunksAsync(NodeRecord node, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref HasCalls);
        return Task.FromResult(ids.Select(id => Holds(node.NodeId, id)).ToArray());
    }

    public async Task<int> DeleteChunksAsync(NodeRecord node, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
    {
        if (BeforeDelete is { } hook)
        {
            await hook();
        }

        var n = 0;
        foreach (var id in ids)
        {
            if (_held.TryRemove((node.NodeId, id), out _))
            {
                n++;
            }
        }

        return n;
    }
}
