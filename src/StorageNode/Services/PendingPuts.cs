using Dropbox.Shared.Chunks;
using Dropbox.StorageNode.Store;

namespace Dropbox.StorageNode.Services;

/// <summary>
/// Puts of one PutChunks call still being verified and committed, in arrival order, with their charged total kept as
/// they come and go (summing the list on every chunk was quadratic: with thousands of small chunks in flight it was the
/// node's largest cost after the JIT). Each put is charged at least <see cref="StoreLimits.MinInFlightChargePerPut"/>,
/// so a call of empty or tiny chunks cannot keep an unbounded number of puts (tasks, answers) in flight under a
/// bytes-only limit.
/// </summary>
internal sealed class PendingPuts
{
    public Queue<(ChunkId Id, byte[]? Buffer, long Charged, Task Put)> Items { get; } = new();

    /// <summary>What the puts in flight are charged together: their stored bytes, each at least the minimum charge.</summary>
    public long Bytes { get; private set; }

    public void Add(ChunkId id, byte[]? buffer, long bytes, Task put)
    {
        var charged = Math.Max(bytes, StoreLimits.MinInFlightChargePerPut);
        Items.Enqueue((id, buffer, charged, put));
        Bytes += charged;
    }

    public void RemoveFirst() => Bytes -= Items.Dequeue().Charged;
}
