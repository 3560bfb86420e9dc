using Dropbox.Shared.Chunks;
using Microsoft.Extensions.Logging;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Shares the storage nodes' HasChunks calls among concurrent commits: at most one call is in flight per node, and
/// the ids asked for while it is in flight ride the next call (up to <see cref="Limits.MaxIdsPerNodeCall"/> ids asked,
/// repeats included, which bounds its callers too; a caller that finds the next call full makes a call of its own, as
/// every commit used to). A caller asking for more ids than that always makes a call of its own, never the one others
/// wait behind.
/// A caller only ever joins a call that is not yet sent, so the answer it gets was made after it joined: anything
/// it read before joining (the deletion and corrupt-report counts a commit checks before trusting an answer) is
/// older than the answer. A failed call answers "not held" for every id it carried, logged as the node being
/// unreachable, as each commit's own call did. A caller's cancellation ends its own wait, never the shared call.
/// </summary>
internal sealed class NodePresenceBatcher
{
    private readonly IStorageNodeGateway _gateway;
    private readonly ILogger _logger;
    private readonly int _maxIds;
    private readonly Lock _lock = new();

    /// <summary>Nodes with a call in flight (removed when the last one ends), by id and address.</summary>
    private readonly Dictionary<(string NodeId, string Url), NodeCalls> _busy = [];

    private long _calls;
    private long _joined;

    public NodePresenceBatcher(IStorageNodeGateway gateway, ILogger logger, int maxIds)
    {
        _gateway = gateway;
        _logger = logger;
        _maxIds = maxIds;
    }

    /// <summary>Calls sent to nodes (tests).</summary>
    internal long Calls => Interlocked.Read(ref _calls);

    /// <summary>Callers that joined a call not yet sent because another was in flight to the node (tests).</summary>
    internal long Joined => Interlocked.Read(ref _joined);

    /// <summary>
    /// For each id, whether <paramref name="node"/> holds it (same order), from a call sent after this was called;
    /// all false if the call failed.
    /// </summary>
    public Task<bool[]> HasChunksAsync(StorageNodeInfo node, IReadOnlyList<ChunkId> ids, CancellationToken cancellationToken)
    {
        var key = (node.NodeId, node.GrpcUrl);
        Batch batch;
        int[] slots;
        var sendNow = false;
        var tracked = true;
        lock (_lock)
        {
            if (ids.Count > _maxIds)
            {
                // More than one call's worth (the gateway sends it as slices one after another): never the node's
                // shared call, which every other commit would wait behind, and never joined.
                batch = new Batch(node);
                sendNow = true;
                tracked = false;
            }
            else if (!_busy.TryGetValue(key, out var calls))
            {
                batch = new Batch(node);
                _busy[key] = new NodeCalls();
                sendNow = true;
            }
            else if (calls.Next is null)
            {
                batch = calls.Next = new Batch(node);
                _joined++;
            }
            else if (calls.Next.Asked + ids.Count <= _maxIds)
            {
                batch = calls.Next;
                _joined++;
            }
            else
            {
                // The next call is full: this caller asks on its own rather than wait behind an unbounded queue.
                batch = new Batch(node);
                sendNow = true;
                tracked = false;
            }

            slots = batch.Add(ids);
        }

        if (sendNow)
        {
            _ = SendAsync(key, batch, tracked);
        }

        return AnswerAsync(batch, slots, cancellationToken);
    }

    private static async Task<bool[]> AnswerAsync(Batch batch, int[] slots, CancellationToken cancellationToken)
    {
        var all = await batch.Answer.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        var mine = new bool[slots.Length];
        for (var i = 0; i < slots.Length; i++)
        {
            mine[i] = all[slots[i]];
        }

        return mine;
    }

    /// <summary>
    /// Sends <paramref name="batch"/>, then hands the node on to its next call if one is waiting and answers its callers,
    /// whatever happened before (all "not held" when the call failed or anything else threw): no caller of this or a
    /// later call is left waiting.
    /// </summary>
    private async Task SendAsync((string NodeId, string Url) key, Batch batch, bool tracked)
    {
        bool[]? present = null;
        try
        {
            Interlocked.Increment(ref _calls);
            // No caller's token: one caller giving up must not cancel the others' answer (the gateway bounds the call).
            var answer = await _gateway.HasChunksAsync(batch.Node, batch.Ids, CancellationToken.None).ConfigureAwait(false);
            if (answer.Length != batch.Ids.Count)
            {
                Array.Resize(ref answer, batch.Ids.Count);
            }

            present = answer;
        }
        catch (Exception ex)
        {
            Log.NodeUnreachable(_logger, batch.Node.NodeId, ex);
        }
        finally
        {
            try
            {
                if (tracked)
                {
                    HandOn(key);
                }
            }
            finally
            {
                batch.Answer.TrySetResult(present ?? new bool[batch.Ids.Count]);
            }
        }
    }

    /// <summary>
    /// Sends the node's next call if one is waiting, else marks the node idle. Sent before the callers of the call that
    /// ended are answered: their continuations may take the write lock, the next call need not wait.
    /// </summary>
    private void HandOn((string NodeId, string Url) key)
    {
        Batch? next;
        lock (_lock)
        {
            var calls = _busy[key];
            next = calls.Next;
            calls.Next = null;
            if (next is null)
            {
                _busy.Remove(key);
            }
        }

        if (next is not null)
        {
            _ = Task.Run(() => SendAsync(key, next, tracked: true), CancellationToken.None);
        }
    }

    /// <summary>A node with a call in flight: the call its next askers join (sent when the one in flight ends).</summary>
    private sealed class NodeCalls
    {
        public Batch? Next { get; set; }
    }

    /// <summary>One HasChunks call: its distinct ids, and the answer its callers wait for.</summary>
    private sealed class Batch(StorageNodeInfo node)
    {
        private readonly Dictionary<ChunkId, int> _slots = [];

        public StorageNodeInfo Node { get; } = node;

        public List<ChunkId> Ids { get; } = [];

        /// <summary>Ids its callers asked for, repeats included: bounds the callers as well as the ids.</summary>
        public int Asked { get; private set; }

        public TaskCompletionSource<bool[]> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Adds the ids not already asked for; returns where each of <paramref name="ids"/> is in the call.</summary>
        public int[] Add(IReadOnlyList<ChunkId> ids)
        {
            var slots = new int[ids.Count];
            Asked += ids.Count;
            for (var i = 0; i < ids.Count; i++)
            {
                if (!_slots.TryGetValue(ids[i], out var slot))
                {
                    slot = Ids.Count;
                    Ids.Add(ids[i]);
                    _slots[ids[i]] = slot;
                }

                slots[i] = slot;
            }

            return slots;
        }
    }
}
