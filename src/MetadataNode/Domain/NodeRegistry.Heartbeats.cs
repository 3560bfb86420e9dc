using System.Collections.Concurrent;
using Dropbox.MetadataNode.Storage;
using Dropbox.Shared.Errors;

namespace Dropbox.MetadataNode.Domain;

/// <summary>
/// Heartbeats: heard in memory at once, stored through the writer when it is free. Stored only, a node's heartbeats
/// waited behind every long write (a 100,000-chunk report or commit, a corrupt report on a loaded machine); the node,
/// whose next heartbeat waits for the answer to the last, then read dead after the dead-after time though it was
/// heartbeating all along: plans dropped it, replication copied its chunks away, commits refused its copies.
/// </summary>
internal sealed partial class NodeRegistry
{
    // The newest heartbeat heard from each node and not yet stored (memory only; offline none is heard).
    private readonly ConcurrentDictionary<string, Heard> _heard = new(StringComparer.Ordinal);

    // Orders heartbeats and registrations by arrival (the clock may step back).
    private long _arrivals;

    // Nodes whose heard heartbeat is queued to be stored on the writer thread: one write per node at a time, which
    // stores the newest one heard when it runs (so heartbeats never pile up behind a long write).
    private readonly ConcurrentDictionary<string, byte> _storing = new(StringComparer.Ordinal);

    /// <summary>
    /// Records a heartbeat; an unknown node must register first (and one forgotten by a restore must register again).
    /// The node counts as heard from now on before this returns, and this never waits for the writer or for a drain's
    /// write: the heartbeat is stored at once if the writer is free, else by the writer thread once it is (one write per
    /// node, with the newest values heard then), onto the node's record as it is then, so a drain or forget since stays.
    /// </summary>
    public void Heartbeat(string nodeId, ulong usedBytes, ulong chunkCount, bool full = false)
    {
        nodeId = ValidNodeId(nodeId);
        var entry = RequireEntry(nodeId);
        if (entry.Node.GrpcUrl.Length == 0)
        {
            // Forgotten by a restore: the node answers NotFound by registering again, which gives its address.
            throw new DropboxException(ErrorKind.NotFound, $"Node '{nodeId}' must register again (this store was restored from a backup): call RegisterNode first.");
        }

        var wasLive = IsLive(Current(entry));

        // The last to arrive wins, not the largest time: after the clock was stepped back (an NTP correction), a
        // larger time kept a node that had since died live for the size of the step (review hb51).
        _heard[nodeId] = new Heard(Interlocked.Increment(ref _arrivals), NowMs, usedBytes, chunkCount, full);
        if (!wasLive)
        {
            Returned?.Invoke(nodeId);
        }
        else
        {
            HeardLive?.Invoke(nodeId);
        }

        if (!_update.TryEnter())
        {
            StoreLater(nodeId); // a drain, forget or registration is writing: never wait for it
            return;
        }

        try
        {
            if (!_storing.ContainsKey(nodeId) && !TryStoreHeard(nodeId, wait: false))
            {
                StoreLater(nodeId);
            }
        }
        finally
        {
            _update.Exit();
        }
    }

    /// <summary>
    /// Raised when a known node is heard from again after it read dead (a heartbeat past the node timeout), or registers
    /// again (it restarted, however briefly): the collector's deletions that failed while it was away are finished then
    /// (<see cref="GarbageCollector.NoteReturned"/>), not a whole collector interval later. Runs on the caller's thread: keep it short.
    /// </summary>
    public event Action<string>? Returned;

    /// <summary>
    /// Raised for a heartbeat of a node that was live already (<see cref="Returned"/> is raised instead for one that read
    /// dead): the collector retries deletions that failed there once their back-off has passed
    /// (<see cref="GarbageCollector.NoteHeard"/>). Runs on the caller's thread: keep it short.
    /// </summary>
    public event Action<string>? HeardLive;

    /// <summary>
    /// The node as known now: its stored record, with the heartbeat heard and not yet stored (time, usage, full), which
    /// arrived after everything the record holds (a registration drops one heard before it; storing one ends it). Every
    /// value handed out goes through this, so every liveness judgement online (plans, commits, replication, metrics, the
    /// admin listing, a drain's answer) counts a heartbeat from the moment it is heard.
    /// </summary>
    private StorageNodeInfo Current(NodeEntry entry) =>
        _heard.TryGetValue(entry.Node.NodeId, out var heard)
            ? entry.Node with { LastHeartbeatUnixMs = heard.AtMs, UsedBytes = heard.UsedBytes, ChunkCount = heard.ChunkCount, Full = heard.Full }
            : entry.Node;

    /// <summary>
    /// Stores the newest heartbeat heard from the node onto its record as it is now (a drain or a forget since is kept;
    /// a node gone or forgotten by a restore gets nothing). Under <see cref="_update"/>. Without <paramref name="wait"/>,
    /// false (nothing written) while another writer holds the write lock.
    /// </summary>
    private bool TryStoreHeard(string nodeId, bool wait)
    {
        if (!_heard.TryGetValue(nodeId, out var heard))
        {
            return true;
        }

        if (!_nodes.TryGetValue(nodeId, out var entry) || entry.Node.GrpcUrl.Length == 0)
        {
            _heard.TryRemove(new KeyValuePair<string, Heard>(nodeId, heard));
            return true;
        }

        var stored = entry with
        {
            Node = entry.Node with
            {
                UsedBytes = heard.UsedBytes,
                ChunkCount = heard.ChunkCount,
                Full = heard.Full,
                LastHeartbeatUnixMs = heard.AtMs,
            },
        };
        void Published() => _heard.TryRemove(new KeyValuePair<string, Heard>(nodeId, heard)); // unless a newer one was heard meanwhile
        if (!wait)
        {
            return _transactions.TryMutate(batch => batch.PutNode(stored), () =>
            {
                _nodes[nodeId] = stored;
                Published();
            });
        }

        Write(stored, Published);
        return true;
    }

    /// <summary>Queues the node's heartbeat to be stored on the writer thread, unless a write of it is queued already.</summary>
    private void StoreLater(string nodeId)
    {
        if (_storing.TryAdd(nodeId, 0))
        {
            _ = StoreOnWriterAsync(nodeId);
        }
    }

    private async Task StoreOnWriterAsync(string nodeId)
    {
        try
        {
            await _transactions.RunOnWriterAsync(() =>
            {
                lock (_update)
                {
                    _storing.TryRemove(nodeId, out _); // first: a heartbeat heard after this read queues its own write
                    TryStoreHeard(nodeId, wait: true);
                }
            }).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            _storing.TryRemove(nodeId, out _); // shutting down: the heartbeat was heard; storing it is only a record
        }
        catch (Exception ex)
        {
            _storing.TryRemove(nodeId, out _);
            Log.HeartbeatNotStored(_logger, nodeId, ex);
        }
    }

    /// <summary>A heartbeat heard: its place in arrival order, when (the clock's Unix ms) and what the node said of itself.</summary>
    private readonly record struct Heard(long Arrival, long AtMs, ulong UsedBytes, ulong ChunkCount, bool Full);
}
